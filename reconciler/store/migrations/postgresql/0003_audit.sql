-- The audit trail: one row per applied change, append-only, chained per enterprise.
-- Each entry carries the hash of the previous one, and the enterprise row keeps the
-- sequence number and hash of the last entry, so an edited, deleted or truncated
-- history is detected by `reconciler audit verify`.
CREATE TABLE audit_log (
    enterprise  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT,
    run         TEXT NOT NULL,
    plan_hash   TEXT NOT NULL,
    commit_sha  TEXT,
    overrides   TEXT NOT NULL,
    action      TEXT NOT NULL,
    address     TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (enterprise, seq)
);

ALTER TABLE enterprises ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE enterprises ADD COLUMN audit_head TEXT NOT NULL DEFAULT '';

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
