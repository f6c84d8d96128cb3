-- The registry: enterprises and everything declared in them, plus account state.
-- Every table carries the enterprise number so one enterprise can be read, locked
-- and versioned on its own.

CREATE TABLE enterprises (
    number              TEXT PRIMARY KEY CHECK (length(number) = 10),
    name                TEXT NOT NULL,
    main_access_manager TEXT,
    default_quality     TEXT,
    version             INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (number, main_access_manager) REFERENCES persons (enterprise, ssin)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (number, default_quality) REFERENCES qualities (enterprise, code)
        DEFERRABLE INITIALLY DEFERRED
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

-- services: the granted service codes, sorted, separated by single spaces.
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

-- Present (one row) only inside an apply transaction, which bumps each enterprise it
-- touches exactly once; the triggers below count every other write, row by row, so a
-- plan made before a hand edit is detected as stale.
CREATE TABLE apply_in_progress (marker INTEGER PRIMARY KEY CHECK (marker = 1));

CREATE TRIGGER enterprises_version AFTER UPDATE OF name, main_access_manager, default_quality ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
 AND (OLD.name IS NOT NEW.name OR OLD.main_access_manager IS NOT NEW.main_access_manager
      OR OLD.default_quality IS NOT NEW.default_quality)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.number;
END;

CREATE TRIGGER persons_insert_version AFTER INSERT ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER persons_update_version AFTER UPDATE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER persons_delete_version AFTER DELETE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER qualities_insert_version AFTER INSERT ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER qualities_update_version AFTER UPDATE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER qualities_delete_version AFTER DELETE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER co_main_access_managers_insert_version AFTER INSERT ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER co_main_access_managers_update_version AFTER UPDATE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER co_main_access_managers_delete_version AFTER DELETE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER co_access_managers_insert_version AFTER INSERT ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER co_access_managers_update_version AFTER UPDATE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER co_access_managers_delete_version AFTER DELETE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER users_insert_version AFTER INSERT ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER users_update_version AFTER UPDATE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER users_delete_version AFTER DELETE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER senders_insert_version AFTER INSERT ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER senders_update_version AFTER UPDATE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER senders_delete_version AFTER DELETE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;

CREATE TRIGGER routes_insert_version AFTER INSERT ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER routes_update_version AFTER UPDATE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER routes_delete_version AFTER DELETE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;
