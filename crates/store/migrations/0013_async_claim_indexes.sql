-- The claim's two indexes, each partial, so a claim reads only what it takes: the waiting rows in
-- the order they come due (a backlog of any size costs a claim nothing but its LIMIT), and the
-- running rows by lease. They replace (status, next_attempt_at), which made a claim read every
-- due row to sort them.
CREATE INDEX async_invocations_ready ON async_invocations (next_attempt_at)
    WHERE status IN ('queued', 'failed');
CREATE INDEX async_invocations_leased ON async_invocations (lease_until)
    WHERE status = 'running';
DROP INDEX async_invocations_due;
