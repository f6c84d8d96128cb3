-- The language a person reads their pages, letters and e-mails in (nl, fr, de or en), and the
-- enterprise's default for people who declare none.  Empty (NULL) means: not declared, so the
-- browser's language, then the page's switch, decide.
ALTER TABLE enterprises ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));
ALTER TABLE persons ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));

-- A change of the default language made outside reconciler moves the version, as a change of
-- the name does (persons' changes already move it, whatever the column).
CREATE OR REPLACE FUNCTION bump_enterprise_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('reconciler.applying', true) = 'on' THEN
        RETURN CASE WHEN TG_TABLE_NAME = 'enterprises' THEN NEW ELSE NULL END;
    END IF;
    IF TG_TABLE_NAME = 'enterprises' THEN
        IF (NEW.name, NEW.main_access_manager, NEW.default_quality, NEW.language)
           IS DISTINCT FROM (OLD.name, OLD.main_access_manager, OLD.default_quality, OLD.language) THEN
            NEW.version := OLD.version + 1;
        END IF;
        RETURN NEW;
    END IF;
    EXECUTE format('UPDATE %I.enterprises SET version = version + 1 WHERE number = $1', TG_TABLE_SCHEMA)
        USING CASE WHEN TG_OP = 'DELETE' THEN OLD.enterprise ELSE NEW.enterprise END;
    RETURN NULL;
END;
$$;
