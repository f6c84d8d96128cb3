-- Profiles: named bundles of online services an enterprise declares once and gives to users.
-- users.services holds what a user is granted in effect (their own services and those of their
-- profiles); users.profiles names the profiles (sorted, separated by single spaces), so that
-- export gives back what was declared and `who` and `review` say which profile brought what.
CREATE TABLE profiles (
    enterprise  TEXT NOT NULL REFERENCES enterprises (number) DEFERRABLE INITIALLY DEFERRED,
    name        TEXT NOT NULL,
    services    TEXT NOT NULL,
    PRIMARY KEY (enterprise, name)
);
ALTER TABLE users ADD COLUMN profiles TEXT NOT NULL DEFAULT '';

CREATE TRIGGER profiles_insert_version AFTER INSERT ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER profiles_update_version AFTER UPDATE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = NEW.enterprise;
END;

CREATE TRIGGER profiles_delete_version AFTER DELETE ON profiles
WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)
BEGIN
    UPDATE enterprises SET version = version + 1 WHERE number = OLD.enterprise;
END;
