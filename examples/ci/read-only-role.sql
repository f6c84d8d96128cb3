-- A PostgreSQL role for plan jobs: it reads the registry and can write nothing, so a pull
-- request's job (which runs code and files the pull request's author chose) never holds
-- write access. Run as the registry's owner; replace registry_schema with the schema of the
-- state URL (?schema=NAME, default public) and choose a password.
-- The apply job keeps the owner's (or another writing role's) URL, in a protected environment.
CREATE ROLE reconciler_plan LOGIN PASSWORD 'choose-a-password';
GRANT USAGE ON SCHEMA registry_schema TO reconciler_plan;
GRANT SELECT ON ALL TABLES IN SCHEMA registry_schema TO reconciler_plan;
-- Tables added by later migrations (which only the apply job runs) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA registry_schema GRANT SELECT ON TABLES TO reconciler_plan;
