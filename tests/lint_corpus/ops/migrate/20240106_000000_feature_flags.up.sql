-- Written for psql -f; sqlmig runs the file in its own transaction and refuses the psql-only lines.
-- expect: SQM003
\set ON_ERROR_STOP on
-- expect: SQM008
BEGIN;
CREATE TABLE public.feature_flags (
    name text PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT false
);
-- expect: SQM008
COMMIT;
