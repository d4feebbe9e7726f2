-- Functions and their code. Portable SQL: the same file runs on SQLite and Postgres.
-- Timestamps are Unix milliseconds; maps are JSON text.
CREATE TABLE functions (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    runtime              TEXT NOT NULL,
    handler              TEXT NOT NULL,
    mode                 TEXT NOT NULL,
    memory_mb            BIGINT NOT NULL,
    timeout_s            BIGINT NOT NULL,
    min_replicas         BIGINT NOT NULL,
    max_replicas         BIGINT NOT NULL,
    instance_concurrency BIGINT NOT NULL,
    env_vars             TEXT NOT NULL,
    limits               TEXT NOT NULL,
    version              BIGINT NOT NULL,
    code_hash            TEXT NOT NULL,
    code_size            BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- Code by content hash: registering the same bytes twice stores them once.
CREATE TABLE code_blobs (
    hash       TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
