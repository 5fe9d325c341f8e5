ALTER TABLE public.projects ADD COLUMN last_activity_at timestamp with time zone;
ALTER TABLE public.projects ADD COLUMN visibility_level integer DEFAULT 0 NOT NULL;
ALTER TABLE public.projects ADD COLUMN pending_delete boolean DEFAULT false;
-- A plain index on a busy table: every push waits while it builds.
-- expect: SQM401
CREATE INDEX index_projects_on_last_activity_at ON public.projects USING btree (last_activity_at);
