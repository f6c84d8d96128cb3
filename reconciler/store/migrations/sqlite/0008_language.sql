-- The language a person reads their pages, letters and e-mails in (nl, fr, de or en), and the
-- enterprise's default for people who declare none.  Empty (NULL) means: not declared, so the
-- browser's language, then the page's switch, decide.
ALTER TABLE enterprises ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));
ALTER TABLE persons ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));

-- A change of the default language made outside reconciler moves the version, as a change of
-- the name does (persons' changes already move it, whatever the column).
DROP TRIGGER enterprises_version;
CREATE TRIGGER enterprises_version AFTER UPDATE OF name, main_access_manager, default_quality, language ON enterprises
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
 AND (OLD.name IS NOT NEW.name OR OLD.main_access_manager IS NOT NEW.main_access_manager
      OR OLD.default_quality IS NOT NEW.default_quality OR OLD.language IS NOT NEW.language)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.number;
END;
