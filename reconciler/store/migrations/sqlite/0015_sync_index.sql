-- An index that holds everything a plan asks of the files it was given (the enterprise each was
-- applied to, and its hash), so that finding them never reads the table's rows, whose kept facts
-- run to megabytes per enterprise.  SQLite only: PostgreSQL keeps large values out of its rows
-- already, and caps an index entry at about 2.7 kB, which a long path with the other two columns
-- would pass.
DROP INDEX declared_files_enterprise;
CREATE INDEX declared_files_enterprise ON declared_files (enterprise, path, sha256);
