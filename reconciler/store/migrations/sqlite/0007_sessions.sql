-- Server-side sessions of the web page.  The browser's cookie holds a random token; only its
-- SHA-256 is stored, so a copy of this table opens no session.  A session belongs to one
-- account at the session epoch it was signed in with: new codes, a new password or a
-- deactivation move the account's epoch and so end it.  Sessions also end when idle for
-- too long or too old, whatever the activity; ended rows are removed when a session starts.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
    enterprise    TEXT NOT NULL,
    ssin          TEXT NOT NULL,
    session_epoch INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    FOREIGN KEY (enterprise, ssin) REFERENCES accounts (enterprise, ssin) ON DELETE CASCADE
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX sessions_account ON sessions (enterprise, ssin);

-- Failure counters of names whose window passed are removed by this index, as new names come in.
CREATE INDEX login_failures_first_failed ON login_failures (first_failed_at);
