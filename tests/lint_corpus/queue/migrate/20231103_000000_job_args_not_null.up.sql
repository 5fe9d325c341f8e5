-- Version 4: args and metadata get defaults and become NOT NULL; a pending state.
ALTER TABLE river_job ALTER COLUMN args SET DEFAULT '{}';
-- Only the rare NULL rows change, but finding them reads the whole table while the SET DEFAULT's ACCESS
-- EXCLUSIVE lock is held.
-- expect-missed: UPDATE … WHERE args IS NULL scans all of river_job under the lock of the ALTER TABLE above
UPDATE river_job SET args = '{}' WHERE args IS NULL;
-- expect: SQM408
ALTER TABLE river_job ALTER COLUMN args SET NOT NULL;
ALTER TABLE river_job ALTER COLUMN args DROP DEFAULT;

ALTER TABLE river_job ALTER COLUMN metadata SET DEFAULT '{}';
-- expect-missed: UPDATE … WHERE metadata IS NULL scans all of river_job under the lock of the ALTER TABLE above
UPDATE river_job SET metadata = '{}' WHERE metadata IS NULL;
-- expect: SQM408
ALTER TABLE river_job ALTER COLUMN metadata SET NOT NULL;

-- expect: SQM405
ALTER TABLE river_job ADD CONSTRAINT finalized_or_finalized_at_null CHECK (
    (state IN ('cancelled', 'completed', 'discarded') AND finalized_at IS NOT NULL) OR finalized_at IS NULL
);

-- Added but not used in this transaction: fine.
ALTER TYPE river_job_state ADD VALUE IF NOT EXISTS 'pending' AFTER 'discarded';

DROP TRIGGER river_notify ON river_job;
DROP FUNCTION river_job_notify;

CREATE TABLE river_queue (
    name text PRIMARY KEY NOT NULL,
    created_at timestamptz NOT NULL DEFAULT NOW(),
    metadata jsonb NOT NULL DEFAULT '{}' ::jsonb,
    paused_at timestamptz,
    updated_at timestamptz NOT NULL
);
