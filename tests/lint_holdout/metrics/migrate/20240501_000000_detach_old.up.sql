-- sqlmig: no-transaction
ALTER TABLE metrics.measurements DETACH PARTITION metrics.measurements_2024_02 CONCURRENTLY;
-- expect-missed: SET UNLOGGED rewrites the detached partition under ACCESS EXCLUSIVE
ALTER TABLE metrics.measurements_2024_02 SET UNLOGGED;
-- expect: SQM413
ALTER TABLE metrics.measurements DROP COLUMN IF EXISTS value;
