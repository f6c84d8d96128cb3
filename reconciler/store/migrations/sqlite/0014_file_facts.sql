-- What each declared file gave at its enterprise's last apply (reconciler.plan.facts): its
-- document without users, and its users in brief.  A pull request then reads only the files it
-- changed; a file whose facts are missing (written before this migration, or by an apply of an
-- unkeyed saved plan) is read again, as before.
ALTER TABLE declared_files ADD COLUMN facts TEXT;
