ALTER TYPE river_job_state ADD VALUE IF NOT EXISTS 'held' AFTER 'discarded';
-- The default is checked now, in the transaction that added the value: 55P04.
-- expect: SQM416
ALTER TABLE river_queue ADD COLUMN default_state river_job_state NOT NULL DEFAULT 'held';
