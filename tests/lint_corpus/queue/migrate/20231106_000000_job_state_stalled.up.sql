-- sqlmig: no-transaction
-- Each statement commits before the next: the new value is committed before the index uses it.
ALTER TYPE river_job_state ADD VALUE IF NOT EXISTS 'stalled' AFTER 'running';
CREATE INDEX CONCURRENTLY IF NOT EXISTS river_job_stalled_idx ON river_job (attempted_at) WHERE state = 'stalled';
