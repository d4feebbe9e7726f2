-- Packages of classes and functions (seed 004, `nova apply`), each kept whole as the JSON of the
-- package applied; created_at is the first apply, updated_at the last.
CREATE TABLE packages (
    name       TEXT PRIMARY KEY,
    version    TEXT,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
