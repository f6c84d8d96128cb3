-- What each enterprise was last applied from, so that a plan can skip enterprises whose
-- files and stored rows have not changed since, without parsing them.
CREATE TABLE declared_files (
    path        TEXT PRIMARY KEY,
    enterprise  TEXT NOT NULL,
    sha256      TEXT NOT NULL
);
CREATE INDEX declared_files_enterprise ON declared_files (enterprise);

-- synced_digest: digest of the tool version, the catalogue and the files (path, sha256);
-- synced_version: the enterprise's version right after that apply (any later write moves it).
ALTER TABLE enterprises ADD COLUMN synced_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE enterprises ADD COLUMN synced_version INTEGER NOT NULL DEFAULT -1;
