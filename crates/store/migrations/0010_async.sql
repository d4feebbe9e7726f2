-- Async invocations: the durable queue every daemon sharing the store takes work from. Times are
-- Unix milliseconds. A row is claimable when it is queued or failed (waiting for a retry) and its
-- `next_attempt_at` has come, or running with an expired lease (its daemon died mid-call): it is
-- then run again under the same id. `errors` is a JSON array of every failed attempt.
CREATE TABLE async_invocations (
    id              TEXT PRIMARY KEY,
    function_name   TEXT NOT NULL,
    qualifier       TEXT NOT NULL,
    version         BIGINT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    max_attempts    BIGINT NOT NULL,
    errors          TEXT NOT NULL,
    result          TEXT,
    idempotency_key TEXT,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX async_invocations_due ON async_invocations (status, next_attempt_at);
CREATE INDEX async_invocations_function ON async_invocations (function_name, created_at);
-- The first invocation enqueued under an idempotency key, per function; a later enqueue with the
-- key gets its id while the entry is younger than the dedupe window, and replaces it after.
CREATE TABLE async_idempotency (
    function_name TEXT NOT NULL,
    key           TEXT NOT NULL,
    id            TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (function_name, key)
);
