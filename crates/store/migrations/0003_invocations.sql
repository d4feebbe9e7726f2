-- Every invocation, written in batches off the hot path and kept for the retention period.
-- Flags are 0/1 integers, times Unix milliseconds: the same file runs on SQLite and Postgres.
CREATE TABLE invocations (
    id           TEXT PRIMARY KEY,
    function     TEXT NOT NULL,
    version      BIGINT NOT NULL,
    duration_us  BIGINT NOT NULL,
    cold_start   BIGINT NOT NULL,
    success      BIGINT NOT NULL,
    error        TEXT,
    input_bytes  BIGINT NOT NULL,
    output_bytes BIGINT NOT NULL,
    stdout       TEXT NOT NULL,
    stderr       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX invocations_function_time ON invocations (function, created_at);
CREATE INDEX invocations_time ON invocations (created_at);
