-- The registry's identity (its lineage, as Terraform calls it): a random id given when the
-- store is created, kept by `state migrate`, and recorded in every saved plan, so that a plan
-- made on one store is refused by another.
CREATE TABLE registry (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    lineage     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO registry (id, lineage, created_at)
VALUES (1, replace(gen_random_uuid()::text, '-', ''),
        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'));
