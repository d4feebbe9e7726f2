-- Aliases of functions: a name that points at a version, and optionally a second version with
-- the percentage of calls it takes (`routing`, a JSON object {"version": percent}). The versions
-- exist when the alias is written (checked in its transaction) and are never deleted while the
-- function is; deleting the function deletes its aliases.
CREATE TABLE function_aliases (
    function_name TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    routing       TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (function_name, name)
);
