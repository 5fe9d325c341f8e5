-- expect: SQM407
ALTER SYSTEM SET work_mem = '64MB';
-- expect: SQM422 -- CLUSTER of a named table rewrites it under an ACCESS EXCLUSIVE lock (allowed in a transaction)
CLUSTER public.events USING events_occurred_at_idx;
-- expect: SQM423 -- REINDEX TABLE without CONCURRENTLY blocks writes to the table while it runs
REINDEX TABLE public.events;
