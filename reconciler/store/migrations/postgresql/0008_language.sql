-- The language a person reads their pages, letters and e-mails in (nl, fr, de or en), and the
-- enterprise's default for people who declare none.  Empty (NULL) means: not declared, so the
-- browser's language, then the page's switch, decide.
ALTER TABLE enterprises ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));
ALTER TABLE persons ADD COLUMN language TEXT CHECK (language IN ('nl', 'fr', 'de', 'en'));
