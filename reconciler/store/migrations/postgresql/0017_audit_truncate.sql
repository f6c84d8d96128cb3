-- TRUNCATE empties a table without firing row triggers: the audit trail's tables refuse it too,
-- so that emptying the trail and writing it again takes someone who can turn triggers off.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_runs_no_truncate BEFORE TRUNCATE ON audit_runs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
