-- Jobs retried more than 32767 times overflowed attempt. smallint to integer is not binary compatible: the table
-- and all of its indexes are rewritten while reads and writes wait.
-- expect: SQM404
ALTER TABLE river_job ALTER COLUMN attempt TYPE integer, ALTER COLUMN max_attempts TYPE integer;
ALTER TABLE river_job ALTER COLUMN attempt SET DEFAULT 0;
