-- hand_writes: which records were written outside reconciler since an enterprise's last apply,
-- by address (kind, quality, key as in plans; '' where an address has none).  The triggers that
-- move an enterprise's version on such a write (0001 and later) now also say what they moved it
-- for, so that drift reads the audit entries and stored rows of those records alone rather than
-- replaying the enterprise's whole trail: a hand edit of one user in an enterprise of 100,000
-- costs one lookup.  An update names the record before and after it (a key may change), and
-- moves the version of both enterprises when a row moves between them.  An apply forgets the
-- rows of the enterprises it brings up to date.
--
-- Kind '*' says "anything may have been written": an enterprise that drifted before this
-- migration, whose writes nobody listed.  Drift then replays the whole trail, as it did.
CREATE TABLE hand_writes (
    enterprise  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    quality     TEXT NOT NULL,
    key         TEXT NOT NULL,
    PRIMARY KEY (enterprise, kind, quality, key)
);
INSERT INTO hand_writes
SELECT number, '*', '', '' FROM enterprises WHERE applied_version >= 0 AND version > applied_version;

DROP TRIGGER persons_insert_version;
CREATE TRIGGER persons_insert_version AFTER INSERT ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'person', '', NEW.ssin);
END;

DROP TRIGGER persons_update_version;
CREATE TRIGGER persons_update_version AFTER UPDATE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'person', '', OLD.ssin), (NEW.enterprise, 'person', '', NEW.ssin);
END;

DROP TRIGGER persons_delete_version;
CREATE TRIGGER persons_delete_version AFTER DELETE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'person', '', OLD.ssin);
END;

DROP TRIGGER qualities_insert_version;
CREATE TRIGGER qualities_insert_version AFTER INSERT ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'quality', NEW.code, '');
END;

DROP TRIGGER qualities_update_version;
CREATE TRIGGER qualities_update_version AFTER UPDATE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'quality', OLD.code, ''), (NEW.enterprise, 'quality', NEW.code, '');
END;

DROP TRIGGER qualities_delete_version;
CREATE TRIGGER qualities_delete_version AFTER DELETE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'quality', OLD.code, '');
END;

DROP TRIGGER co_main_access_managers_insert_version;
CREATE TRIGGER co_main_access_managers_insert_version AFTER INSERT ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'co_main_access_manager', '', NEW.ssin);
END;

DROP TRIGGER co_main_access_managers_update_version;
CREATE TRIGGER co_main_access_managers_update_version AFTER UPDATE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'co_main_access_manager', '', OLD.ssin), (NEW.enterprise, 'co_main_access_manager', '', NEW.ssin);
END;

DROP TRIGGER co_main_access_managers_delete_version;
CREATE TRIGGER co_main_access_managers_delete_version AFTER DELETE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'co_main_access_manager', '', OLD.ssin);
END;

DROP TRIGGER co_access_managers_insert_version;
CREATE TRIGGER co_access_managers_insert_version AFTER INSERT ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'co_access_manager', NEW.quality, NEW.ssin);
END;

DROP TRIGGER co_access_managers_update_version;
CREATE TRIGGER co_access_managers_update_version AFTER UPDATE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'co_access_manager', OLD.quality, OLD.ssin), (NEW.enterprise, 'co_access_manager', NEW.quality, NEW.ssin);
END;

DROP TRIGGER co_access_managers_delete_version;
CREATE TRIGGER co_access_managers_delete_version AFTER DELETE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'co_access_manager', OLD.quality, OLD.ssin);
END;

DROP TRIGGER users_insert_version;
CREATE TRIGGER users_insert_version AFTER INSERT ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'user', NEW.quality, NEW.ssin);
END;

DROP TRIGGER users_update_version;
CREATE TRIGGER users_update_version AFTER UPDATE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'user', OLD.quality, OLD.ssin), (NEW.enterprise, 'user', NEW.quality, NEW.ssin);
END;

DROP TRIGGER users_delete_version;
CREATE TRIGGER users_delete_version AFTER DELETE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'user', OLD.quality, OLD.ssin);
END;

DROP TRIGGER senders_insert_version;
CREATE TRIGGER senders_insert_version AFTER INSERT ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'sender', NEW.quality, NEW.number);
END;

DROP TRIGGER senders_update_version;
CREATE TRIGGER senders_update_version AFTER UPDATE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'sender', OLD.quality, OLD.number), (NEW.enterprise, 'sender', NEW.quality, NEW.number);
END;

DROP TRIGGER senders_delete_version;
CREATE TRIGGER senders_delete_version AFTER DELETE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'sender', OLD.quality, OLD.number);
END;

DROP TRIGGER routes_insert_version;
CREATE TRIGGER routes_insert_version AFTER INSERT ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'route', NEW.quality, NEW.service);
END;

DROP TRIGGER routes_update_version;
CREATE TRIGGER routes_update_version AFTER UPDATE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'route', OLD.quality, OLD.service), (NEW.enterprise, 'route', NEW.quality, NEW.service);
END;

DROP TRIGGER routes_delete_version;
CREATE TRIGGER routes_delete_version AFTER DELETE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'route', OLD.quality, OLD.service);
END;

DROP TRIGGER profiles_insert_version;
CREATE TRIGGER profiles_insert_version AFTER INSERT ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.enterprise, 'profile', '', NEW.name);
END;

DROP TRIGGER profiles_update_version;
CREATE TRIGGER profiles_update_version AFTER UPDATE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'profile', '', OLD.name), (NEW.enterprise, 'profile', '', NEW.name);
END;

DROP TRIGGER profiles_delete_version;
CREATE TRIGGER profiles_delete_version AFTER DELETE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT OR IGNORE INTO hand_writes VALUES (OLD.enterprise, 'profile', '', OLD.name);
END;

DROP TRIGGER enterprises_version;
CREATE TRIGGER enterprises_version AFTER UPDATE OF name, main_access_manager, default_quality, language ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
 AND (OLD.name IS NOT NEW.name OR OLD.main_access_manager IS NOT NEW.main_access_manager
      OR OLD.default_quality IS NOT NEW.default_quality OR OLD.language IS NOT NEW.language)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.number;
    INSERT OR IGNORE INTO hand_writes VALUES (NEW.number, 'enterprise', '', '');
END;
