/* The same column on three tables, through dynamic SQL. */
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['artifact', 'tag', 'repository'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS creation_time timestamp default CURRENT_TIMESTAMP', t);
    END LOOP;
END $$;  -- expect: SQM418

/* The id sequence ran out. */
-- expect: SQM404
ALTER TABLE artifact_blob ALTER COLUMN id TYPE bigint;
ALTER SEQUENCE artifact_blob_id_seq AS bigint;

-- expect: SQM410
DROP INDEX IF EXISTS idx_task_status;
