-- expect: SQM410
DROP INDEX IF EXISTS public.index_projects_on_last_activity_at;
ALTER TABLE public.projects DROP COLUMN IF EXISTS pending_delete;
ALTER TABLE public.projects DROP COLUMN IF EXISTS visibility_level;
ALTER TABLE public.projects DROP COLUMN IF EXISTS last_activity_at;
