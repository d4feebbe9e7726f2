-- Every version of every function, immutable: the function's row as it stood when the version
-- was made (the same columns as `functions`; `version` is the number, `updated_at` when it was
-- made) and a description given when it is published. A function's current state is always its
-- newest version; code stays in `code_blobs` while a function or a version uses it.
CREATE TABLE function_versions (
    id                   TEXT NOT NULL,
    name                 TEXT NOT NULL,
    runtime              TEXT NOT NULL,
    handler              TEXT NOT NULL,
    mode                 TEXT NOT NULL,
    network              TEXT NOT NULL,
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
    updated_at           BIGINT NOT NULL,
    description          TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX function_versions_code ON function_versions (code_hash);

-- Functions from before versions were kept: their current state is their first recorded
-- version (its number is the one they carry), so upgrading loses nothing.
INSERT INTO function_versions (id, name, runtime, handler, mode, network, memory_mb, timeout_s,
    min_replicas, max_replicas, instance_concurrency, env_vars, limits, version, code_hash,
    code_size, created_at, updated_at, description)
SELECT id, name, runtime, handler, mode, network, memory_mb, timeout_s, min_replicas,
    max_replicas, instance_concurrency, env_vars, limits, version, code_hash, code_size,
    created_at, updated_at, ''
FROM functions;
