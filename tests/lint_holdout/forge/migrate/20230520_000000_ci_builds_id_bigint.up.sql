-- The "integer overflow" conversion, done the short way.
-- expect: SQM404
ALTER TABLE public.ci_builds ALTER COLUMN commit_id TYPE bigint;
-- Widening a varchar limit rewrites nothing.
ALTER TABLE public.ci_builds ALTER COLUMN name TYPE character varying(512);
ALTER TABLE public.ci_builds ALTER COLUMN ref TYPE text;
-- expect: SQM404
ALTER TABLE public.ci_builds ALTER COLUMN options TYPE jsonb USING options::jsonb;
