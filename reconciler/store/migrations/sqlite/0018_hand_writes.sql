-- hand_writes: which records were written outside reconciler since an enterprise's last apply,
-- by address (kind, quality, key as in plans; '' where an address has none).  The triggers that
-- move an enterprise's version on such a write (0001 and later) now also say what they moved it
-- for, so that drift compares those records alone rather than every record of the enterprise
-- against a replay of its whole trail.  An update names the record before and after it (a key
-- may change), and moves the version of both enterprises when a row moves between them; the
-- enterprise's own row, inserted or deleted by hand (a REPLACE), is listed too.  An apply
-- forgets the rows of the enterprises it brings up to date.
--
-- The triggers insert only what is not listed yet (WHERE NOT EXISTS, through the key) rather
-- than INSERT OR IGNORE: a statement inside a trigger takes the conflict clause of the statement
-- that fired it, so an UPDATE OR ABORT or an upsert by hand would turn a repeated address into
-- an error.
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
    INSERT INTO hand_writes SELECT NEW.enterprise, 'person', '', NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'person' AND quality = '' AND key = NEW.ssin);
END;

DROP TRIGGER persons_update_version;
CREATE TRIGGER persons_update_version AFTER UPDATE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'person', '', OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'person' AND quality = '' AND key = OLD.ssin);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'person', '', NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'person' AND quality = '' AND key = NEW.ssin);
END;

DROP TRIGGER persons_delete_version;
CREATE TRIGGER persons_delete_version AFTER DELETE ON persons
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'person', '', OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'person' AND quality = '' AND key = OLD.ssin);
END;

DROP TRIGGER qualities_insert_version;
CREATE TRIGGER qualities_insert_version AFTER INSERT ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'quality', NEW.code, ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'quality' AND quality = NEW.code AND key = '');
END;

DROP TRIGGER qualities_update_version;
CREATE TRIGGER qualities_update_version AFTER UPDATE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'quality', OLD.code, ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'quality' AND quality = OLD.code AND key = '');
    INSERT INTO hand_writes SELECT NEW.enterprise, 'quality', NEW.code, ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'quality' AND quality = NEW.code AND key = '');
END;

DROP TRIGGER qualities_delete_version;
CREATE TRIGGER qualities_delete_version AFTER DELETE ON qualities
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'quality', OLD.code, ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'quality' AND quality = OLD.code AND key = '');
END;

DROP TRIGGER co_main_access_managers_insert_version;
CREATE TRIGGER co_main_access_managers_insert_version AFTER INSERT ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'co_main_access_manager', '', NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'co_main_access_manager' AND quality = '' AND key = NEW.ssin);
END;

DROP TRIGGER co_main_access_managers_update_version;
CREATE TRIGGER co_main_access_managers_update_version AFTER UPDATE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'co_main_access_manager', '', OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'co_main_access_manager' AND quality = '' AND key = OLD.ssin);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'co_main_access_manager', '', NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'co_main_access_manager' AND quality = '' AND key = NEW.ssin);
END;

DROP TRIGGER co_main_access_managers_delete_version;
CREATE TRIGGER co_main_access_managers_delete_version AFTER DELETE ON co_main_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'co_main_access_manager', '', OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'co_main_access_manager' AND quality = '' AND key = OLD.ssin);
END;

DROP TRIGGER co_access_managers_insert_version;
CREATE TRIGGER co_access_managers_insert_version AFTER INSERT ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'co_access_manager', NEW.quality, NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'co_access_manager' AND quality = NEW.quality AND key = NEW.ssin);
END;

DROP TRIGGER co_access_managers_update_version;
CREATE TRIGGER co_access_managers_update_version AFTER UPDATE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'co_access_manager', OLD.quality, OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'co_access_manager' AND quality = OLD.quality AND key = OLD.ssin);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'co_access_manager', NEW.quality, NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'co_access_manager' AND quality = NEW.quality AND key = NEW.ssin);
END;

DROP TRIGGER co_access_managers_delete_version;
CREATE TRIGGER co_access_managers_delete_version AFTER DELETE ON co_access_managers
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'co_access_manager', OLD.quality, OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'co_access_manager' AND quality = OLD.quality AND key = OLD.ssin);
END;

DROP TRIGGER users_insert_version;
CREATE TRIGGER users_insert_version AFTER INSERT ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'user', NEW.quality, NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'user' AND quality = NEW.quality AND key = NEW.ssin);
END;

DROP TRIGGER users_update_version;
CREATE TRIGGER users_update_version AFTER UPDATE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'user', OLD.quality, OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'user' AND quality = OLD.quality AND key = OLD.ssin);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'user', NEW.quality, NEW.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'user' AND quality = NEW.quality AND key = NEW.ssin);
END;

DROP TRIGGER users_delete_version;
CREATE TRIGGER users_delete_version AFTER DELETE ON users
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'user', OLD.quality, OLD.ssin
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'user' AND quality = OLD.quality AND key = OLD.ssin);
END;

DROP TRIGGER senders_insert_version;
CREATE TRIGGER senders_insert_version AFTER INSERT ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'sender', NEW.quality, NEW.number
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'sender' AND quality = NEW.quality AND key = NEW.number);
END;

DROP TRIGGER senders_update_version;
CREATE TRIGGER senders_update_version AFTER UPDATE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'sender', OLD.quality, OLD.number
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'sender' AND quality = OLD.quality AND key = OLD.number);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'sender', NEW.quality, NEW.number
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'sender' AND quality = NEW.quality AND key = NEW.number);
END;

DROP TRIGGER senders_delete_version;
CREATE TRIGGER senders_delete_version AFTER DELETE ON senders
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'sender', OLD.quality, OLD.number
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'sender' AND quality = OLD.quality AND key = OLD.number);
END;

DROP TRIGGER routes_insert_version;
CREATE TRIGGER routes_insert_version AFTER INSERT ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'route', NEW.quality, NEW.service
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'route' AND quality = NEW.quality AND key = NEW.service);
END;

DROP TRIGGER routes_update_version;
CREATE TRIGGER routes_update_version AFTER UPDATE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'route', OLD.quality, OLD.service
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'route' AND quality = OLD.quality AND key = OLD.service);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'route', NEW.quality, NEW.service
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'route' AND quality = NEW.quality AND key = NEW.service);
END;

DROP TRIGGER routes_delete_version;
CREATE TRIGGER routes_delete_version AFTER DELETE ON routes
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'route', OLD.quality, OLD.service
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'route' AND quality = OLD.quality AND key = OLD.service);
END;

DROP TRIGGER profiles_insert_version;
CREATE TRIGGER profiles_insert_version AFTER INSERT ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
    INSERT INTO hand_writes SELECT NEW.enterprise, 'profile', '', NEW.name
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'profile' AND quality = '' AND key = NEW.name);
END;

DROP TRIGGER profiles_update_version;
CREATE TRIGGER profiles_update_version AFTER UPDATE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number IN (OLD.enterprise, NEW.enterprise);
    INSERT INTO hand_writes SELECT OLD.enterprise, 'profile', '', OLD.name
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'profile' AND quality = '' AND key = OLD.name);
    INSERT INTO hand_writes SELECT NEW.enterprise, 'profile', '', NEW.name
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.enterprise AND kind = 'profile' AND quality = '' AND key = NEW.name);
END;

DROP TRIGGER profiles_delete_version;
CREATE TRIGGER profiles_delete_version AFTER DELETE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
    INSERT INTO hand_writes SELECT OLD.enterprise, 'profile', '', OLD.name
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.enterprise AND kind = 'profile' AND quality = '' AND key = OLD.name);
END;

DROP TRIGGER enterprises_version;
CREATE TRIGGER enterprises_version AFTER UPDATE OF name, main_access_manager, default_quality, language ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
 AND (OLD.name IS NOT NEW.name OR OLD.main_access_manager IS NOT NEW.main_access_manager
      OR OLD.default_quality IS NOT NEW.default_quality OR OLD.language IS NOT NEW.language)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.number;
    INSERT INTO hand_writes SELECT NEW.number, 'enterprise', '', ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.number AND kind = 'enterprise' AND quality = '' AND key = '');
END;

CREATE TRIGGER enterprises_insert_version AFTER INSERT ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.number;
    INSERT INTO hand_writes SELECT NEW.number, 'enterprise', '', ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = NEW.number AND kind = 'enterprise' AND quality = '' AND key = '');
END;

CREATE TRIGGER enterprises_delete_version AFTER DELETE ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    INSERT INTO hand_writes SELECT OLD.number, 'enterprise', '', ''
    WHERE NOT EXISTS (SELECT 1 FROM hand_writes
                      WHERE enterprise = OLD.number AND kind = 'enterprise' AND quality = '' AND key = '');
END;
