-- Schedules: a function called on a cron expression, each tick fired into the async queue. Times
-- are Unix milliseconds; `enabled` is 1 or 0 (paused). `next_fire_at` is the tick still owed (NULL
-- when paused or when the expression has no tick left): a daemon claims a tick by changing it
-- from the value it read, in the transaction that enqueues the call, so each tick fires once.
-- Deleting the function deletes its schedules.
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,
    function_name TEXT NOT NULL,
    cron          TEXT NOT NULL,
    timezone      TEXT,
    payload       TEXT NOT NULL,
    qualifier     TEXT,
    enabled       BIGINT NOT NULL,
    next_fire_at  BIGINT,
    last_fired_at BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (enabled, next_fire_at);
CREATE INDEX schedules_function ON schedules (function_name, created_at);
