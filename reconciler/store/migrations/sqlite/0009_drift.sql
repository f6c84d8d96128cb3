-- applied_version: the enterprise's version as the last apply left it.  Every write moves the
-- version (the triggers of 0001), and only an apply moves applied_version with it; so a version
-- ahead of applied_version means rows were written outside reconciler since ("drift"), and
-- the audit trail, which holds what every apply wrote, says which.  A store migrated to this
-- version starts without drift: what it holds now counts as applied.
ALTER TABLE enterprises ADD COLUMN applied_version INTEGER NOT NULL DEFAULT -1;
UPDATE enterprises SET applied_version = version;
