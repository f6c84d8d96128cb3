-- The registry: enterprises and everything declared in them, plus account state.
-- The same tables as the SQLite store; statements run with search_path set to the
-- registry's schema, so several registries can share one database.

CREATE TABLE enterprises (
    number              TEXT PRIMARY KEY CHECK (length(number) = 10),
    name                TEXT NOT NULL,
    main_access_manager TEXT,
    default_quality     TEXT,
    version             BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE persons (
    enterprise          TEXT NOT NULL REFERENCES enterprises (number) DEFERRABLE INITIALLY DEFERRED,
    ssin                TEXT NOT NULL CHECK (length(ssin) = 11),
    name                TEXT NOT NULL,
    email               TEXT NOT NULL,
    username            TEXT NOT NULL,
    account_status      TEXT NOT NULL CHECK (account_status IN ('pending', 'active', 'deactivated')),
    created_at          TEXT NOT NULL,
    activation_deadline TEXT,
    PRIMARY KEY (enterprise, ssin),
    UNIQUE (enterprise, username)
);

CREATE TABLE qualities (
    enterprise          TEXT NOT NULL REFERENCES enterprises (number) DEFERRABLE INITIALLY DEFERRED,
    code                TEXT NOT NULL,
    activated           INTEGER NOT NULL CHECK (activated IN (0, 1)),
    nsso_number         TEXT,
    notification_email  TEXT,
    access_manager      TEXT,
    PRIMARY KEY (enterprise, code),
    FOREIGN KEY (enterprise, access_manager) REFERENCES persons (enterprise, ssin)
        DEFERRABLE INITIALLY DEFERRED
);

ALTER TABLE enterprises
    ADD FOREIGN KEY (number, main_access_manager) REFERENCES persons (enterprise, ssin)
        DEFERRABLE INITIALLY DEFERRED,
    ADD FOREIGN KEY (number, default_quality) REFERENCES qualities (enterprise, code)
        DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE co_main_access_managers (
    enterprise          TEXT NOT NULL,
    ssin                TEXT NOT NULL,
    PRIMARY KEY (enterprise, ssin),
    FOREIGN KEY (enterprise, ssin) REFERENCES persons (enterprise, ssin) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE co_access_managers (
    enterprise          TEXT NOT NULL,
    quality             TEXT NOT NULL,
    ssin                TEXT NOT NULL,
    PRIMARY KEY (enterprise, quality, ssin),
    FOREIGN KEY (enterprise, quality) REFERENCES qualities (enterprise, code) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (enterprise, ssin) REFERENCES persons (enterprise, ssin) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE users (
    enterprise          TEXT NOT NULL,
    quality             TEXT NOT NULL,
    ssin                TEXT NOT NULL,
    services            TEXT NOT NULL,
    PRIMARY KEY (enterprise, quality, ssin),
    FOREIGN KEY (enterprise, quality) REFERENCES qualities (enterprise, code) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (enterprise, ssin) REFERENCES persons (enterprise, ssin) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE senders (
    enterprise              TEXT NOT NULL,
    quality                 TEXT NOT NULL,
    number                  TEXT NOT NULL,
    channel                 TEXT NOT NULL CHECK (channel IN ('ftp', 'sftp', 'soap', 'rest')),
    ssh_public_key          TEXT,
    certificate_fingerprint TEXT,
    contact_name            TEXT NOT NULL,
    contact_email           TEXT NOT NULL,
    contact_phone           TEXT,
    PRIMARY KEY (enterprise, quality, number),
    FOREIGN KEY (enterprise, quality) REFERENCES qualities (enterprise, code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE routes (
    enterprise          TEXT NOT NULL,
    quality             TEXT NOT NULL,
    service             TEXT NOT NULL,
    sender              TEXT NOT NULL,
    PRIMARY KEY (enterprise, quality, service),
    FOREIGN KEY (enterprise, quality, sender) REFERENCES senders (enterprise, quality, number)
        DEFERRABLE INITIALLY DEFERRED
);

-- Who holds (or last held) the apply lock of an enterprise.  The lock itself is a
-- transaction-scoped advisory lock, so it dies with its transaction; this table only
-- says who to ask, and `lock list` checks each row against the live locks.
CREATE TABLE lock_holders (
    enterprise          TEXT PRIMARY KEY,
    holder              TEXT NOT NULL,
    run                 TEXT NOT NULL,
    since               TEXT NOT NULL,
    lock_key            BIGINT NOT NULL
);

-- Every write to an enterprise's rows bumps its version.  An apply sets
-- reconciler.applying for its transaction and bumps each enterprise it touches once; any
-- other write is counted row by row.  The function finds the enterprises table in the
-- schema of the table that fired it, so hand edits made with any search_path count.
CREATE FUNCTION bump_enterprise_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('reconciler.applying', true) = 'on' THEN
        RETURN CASE WHEN TG_TABLE_NAME = 'enterprises' THEN NEW ELSE NULL END;
    END IF;
    IF TG_TABLE_NAME = 'enterprises' THEN
        IF (NEW.name, NEW.main_access_manager, NEW.default_quality)
           IS DISTINCT FROM (OLD.name, OLD.main_access_manager, OLD.default_quality) THEN
            NEW.version := OLD.version + 1;
        END IF;
        RETURN NEW;
    END IF;
    EXECUTE format('UPDATE %I.enterprises SET version = version + 1 WHERE number = $1', TG_TABLE_SCHEMA)
        USING CASE WHEN TG_OP = 'DELETE' THEN OLD.enterprise ELSE NEW.enterprise END;
    RETURN NULL;
END;
$$;

CREATE TRIGGER enterprises_version BEFORE UPDATE ON enterprises
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER persons_version AFTER INSERT OR UPDATE OR DELETE ON persons
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER qualities_version AFTER INSERT OR UPDATE OR DELETE ON qualities
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER co_main_access_managers_version AFTER INSERT OR UPDATE OR DELETE ON co_main_access_managers
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER co_access_managers_version AFTER INSERT OR UPDATE OR DELETE ON co_access_managers
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER users_version AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER senders_version AFTER INSERT OR UPDATE OR DELETE ON senders
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();

CREATE TRIGGER routes_version AFTER INSERT OR UPDATE OR DELETE ON routes
    FOR EACH ROW EXECUTE FUNCTION bump_enterprise_version();
