-- Accounts live apart from the declared persons: a person removed from the YAML loses
-- their roles at once, but their account stays, deactivated, so its user name is never
-- handed out again and the audit trail keeps pointing at it.  Logging in does not touch
-- the declared tables, so it never bumps an enterprise's version.
--
-- User names are unique in the whole registry: they are what a person types to log in.
-- temporary_hash and password_hash are argon2id hashes; the codes themselves are never stored.
CREATE TABLE accounts (
    enterprise          TEXT NOT NULL,
    ssin                TEXT NOT NULL CHECK (length(ssin) = 11),
    username            TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'active', 'deactivated')),
    created_at          TEXT NOT NULL,
    codes_issued_at     TEXT,
    activation_deadline TEXT,
    temporary_hash      TEXT,
    password_hash       TEXT,
    activated_at        TEXT,
    deactivated_at      TEXT,
    session_epoch       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (enterprise, ssin)
);
-- Accounts not activated yet, per enterprise: those whose codes were never sent (what every
-- apply looks for, usually none) come first, then the others by deadline.
CREATE INDEX accounts_waiting ON accounts (enterprise, status, codes_issued_at, activation_deadline);

-- Accounts created before this migration had their codes handed out by other means:
-- they keep their deadline and count as issued.  A user name used in two enterprises
-- keeps its plain form in the first one only.
INSERT INTO accounts (enterprise, ssin, username, status, created_at, codes_issued_at, activation_deadline)
SELECT enterprise, ssin,
       CASE WHEN row_number() OVER (PARTITION BY username ORDER BY enterprise) = 1 THEN username
            ELSE username || '.' || enterprise END,
       account_status, created_at, created_at, activation_deadline
FROM persons;

-- Failed logins per typed user name (known or not, so a lock-out reveals nothing).
CREATE TABLE login_failures (
    username        TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    locked_until    TEXT
);

-- persons keeps only what is declared.
ALTER TABLE persons DROP COLUMN username, DROP COLUMN account_status, DROP COLUMN created_at,
    DROP COLUMN activation_deadline;
