-- Grants that end by themselves: the last day but one of a co-main access manager, an access
-- manager, a co-access manager or a user, as declared (YYYY-MM-DD); NULL: until further notice.
-- next_expiry: the earliest such date among what the last apply left, so that a plan never
-- skips an enterprise (as unchanged) once one of its grants has ended.
ALTER TABLE co_main_access_managers ADD COLUMN until TEXT;
ALTER TABLE co_access_managers ADD COLUMN until TEXT;
ALTER TABLE users ADD COLUMN until TEXT;
ALTER TABLE qualities ADD COLUMN access_manager_until TEXT;
ALTER TABLE enterprises ADD COLUMN next_expiry TEXT;
