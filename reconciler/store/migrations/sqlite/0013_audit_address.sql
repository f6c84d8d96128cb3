-- The audit entries of one record, newest first: what `plan` and `reconciler drift` read to find
-- what the last apply left of a record (its last create, update, delete or adopt entry), so that
-- drift costs one lookup per record rather than a replay of the whole trail.
CREATE INDEX audit_log_address ON audit_log (enterprise, address, seq);
