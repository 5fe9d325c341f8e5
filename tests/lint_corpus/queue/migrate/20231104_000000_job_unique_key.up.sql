-- Version 5: unique jobs by key.
ALTER TABLE river_job ADD COLUMN unique_key bytea;

-- expect: SQM401
CREATE UNIQUE INDEX river_job_kind_unique_key_idx ON river_job (kind, unique_key) WHERE unique_key IS NOT NULL;
