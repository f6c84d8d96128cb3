-- hand_writes: which records were written outside reconciler since an enterprise's last apply,
-- by address (kind, quality, key as in plans; '' where an address has none).  The trigger that
-- moves an enterprise's version on such a write (0001, 0008) now also says what it moved it for,
-- so that drift compares those records alone rather than every record of the enterprise against
-- a replay of its whole trail.  An update names the record before and after it (a key may
-- change), and moves the version of both enterprises when a row moves between them; the
-- enterprise's own row, inserted or deleted by hand, is listed too.  An apply forgets the rows
-- of the enterprises it brings up to date.
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

CREATE OR REPLACE FUNCTION bump_enterprise_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- Each table's record: its kind, and the columns holding its quality and its own key.
    kind text := CASE TG_TABLE_NAME
        WHEN 'persons' THEN 'person' WHEN 'qualities' THEN 'quality'
        WHEN 'co_main_access_managers' THEN 'co_main_access_manager'
        WHEN 'co_access_managers' THEN 'co_access_manager' WHEN 'users' THEN 'user'
        WHEN 'senders' THEN 'sender' WHEN 'routes' THEN 'route' WHEN 'profiles' THEN 'profile'
        ELSE '*' END;
    quality_column text := CASE TG_TABLE_NAME
        WHEN 'qualities' THEN 'code'
        WHEN 'co_access_managers' THEN 'quality' WHEN 'users' THEN 'quality'
        WHEN 'senders' THEN 'quality' WHEN 'routes' THEN 'quality' END;
    key_column text := CASE TG_TABLE_NAME
        WHEN 'persons' THEN 'ssin' WHEN 'co_main_access_managers' THEN 'ssin'
        WHEN 'co_access_managers' THEN 'ssin' WHEN 'users' THEN 'ssin'
        WHEN 'senders' THEN 'number' WHEN 'routes' THEN 'service' WHEN 'profiles' THEN 'name' END;
    bump text := format('UPDATE %I.enterprises SET version = version + 1 WHERE number = $1', TG_TABLE_SCHEMA);
    note text := format('INSERT INTO %I.hand_writes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA);
    side jsonb;
BEGIN
    IF current_setting('reconciler.applying', true) = 'on' THEN
        RETURN CASE WHEN TG_TABLE_NAME = 'enterprises' THEN NEW ELSE NULL END;
    END IF;
    IF TG_TABLE_NAME = 'enterprises' THEN
        IF (NEW.name, NEW.main_access_manager, NEW.default_quality, NEW.language)
           IS DISTINCT FROM (OLD.name, OLD.main_access_manager, OLD.default_quality, OLD.language) THEN
            NEW.version := OLD.version + 1;
            EXECUTE note USING NEW.number, 'enterprise', '', '';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        side := to_jsonb(OLD);
        EXECUTE bump USING side->>'enterprise';
        EXECUTE note USING side->>'enterprise', kind,
            coalesce(side->>quality_column, ''), coalesce(side->>key_column, '');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        side := to_jsonb(NEW);
        IF TG_OP = 'INSERT' OR side->>'enterprise' IS DISTINCT FROM OLD.enterprise THEN
            EXECUTE bump USING side->>'enterprise';
        END IF;
        EXECUTE note USING side->>'enterprise', kind,
            coalesce(side->>quality_column, ''), coalesce(side->>key_column, '');
    END IF;
    RETURN NULL;
END;
$$;

-- The enterprise's own row, inserted or deleted by hand (the update trigger above sees only
-- updates): listed, and an inserted row moves its version.
CREATE FUNCTION enterprise_row_by_hand() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('reconciler.applying', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('UPDATE %I.enterprises SET version = version + 1 WHERE number = $1', TG_TABLE_SCHEMA)
            USING NEW.number;
    END IF;
    EXECUTE format('INSERT INTO %I.hand_writes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA)
        USING CASE WHEN TG_OP = 'DELETE' THEN OLD.number ELSE NEW.number END, 'enterprise', '', '';
    RETURN NULL;
END;
$$;
CREATE TRIGGER enterprises_rows_version AFTER INSERT OR DELETE ON enterprises
    FOR EACH ROW EXECUTE FUNCTION enterprise_row_by_hand();

-- TRUNCATE empties a table without firing row triggers: outside an apply, it moves the version of
-- every enterprise and says that anything of theirs may have been written.
CREATE FUNCTION truncated_by_hand() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('reconciler.applying', true) = 'on' THEN
        RETURN NULL;
    END IF;
    EXECUTE format('UPDATE %I.enterprises SET version = version + 1', TG_TABLE_SCHEMA);
    EXECUTE format('INSERT INTO %1$I.hand_writes SELECT number, ''*'', '''', '''' FROM %1$I.enterprises '
                   'ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA);
    RETURN NULL;
END;
$$;
CREATE TRIGGER persons_truncate_version AFTER TRUNCATE ON persons
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER qualities_truncate_version AFTER TRUNCATE ON qualities
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER co_main_access_managers_truncate_version AFTER TRUNCATE ON co_main_access_managers
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER co_access_managers_truncate_version AFTER TRUNCATE ON co_access_managers
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER users_truncate_version AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER senders_truncate_version AFTER TRUNCATE ON senders
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER routes_truncate_version AFTER TRUNCATE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
CREATE TRIGGER profiles_truncate_version AFTER TRUNCATE ON profiles
    FOR EACH STATEMENT EXECUTE FUNCTION truncated_by_hand();
