-- Each function's own async settings (PUT /functions/{name}/async-config): a NULL column falls
-- back to the daemon's `async:` section. `on_success` and `on_failure` name the functions called
-- (async, in the transaction that records the outcome) when an invocation succeeds or is
-- dead-lettered. Deleting the function deletes its row.
CREATE TABLE async_configs (
    function_name  TEXT PRIMARY KEY,
    max_attempts   BIGINT,
    max_event_age  BIGINT,
    concurrency    BIGINT,
    on_success     TEXT,
    on_failure     TEXT,
    updated_at     BIGINT NOT NULL
);
