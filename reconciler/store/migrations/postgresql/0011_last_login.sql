-- When the person last logged in to this account: at /login, and at the end of their first
-- login, which signs them in.  NULL: never since this column exists.  An active account
-- without a login for a while is dormant (``accounts.dormancy``); it is measured from here,
-- or from activated_at when the person never logged in since.
--
-- accounts carries no version trigger (see 0005): a login never moves an enterprise's
-- version, and it is no grant, so it is not written to the audit chain either.
ALTER TABLE accounts ADD COLUMN last_login_at TEXT;
