-- A one-off cleanup before the retention job existed.
DELETE FROM river_job
WHERE state IN ('completed', 'discarded', 'cancelled')
  AND finalized_at < now() - interval '30 days';
-- VACUUM cannot run inside a transaction block: this file fails here.
-- expect: SQM406
VACUUM (ANALYZE) river_job;
