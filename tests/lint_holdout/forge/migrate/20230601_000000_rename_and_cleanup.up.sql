-- expect: SQM412
ALTER TABLE public.projects RENAME COLUMN star_count TO stars_count;
-- sqlmig-lint: ignore SQM413 -- ignore_column :options since 16.0
ALTER TABLE public.ci_builds DROP COLUMN IF EXISTS options;
-- expect: SQM413
ALTER TABLE public.projects DROP COLUMN IF EXISTS pending_delete;
-- Renaming a constraint or an index is a catalog change only.
ALTER TABLE public.ci_builds RENAME CONSTRAINT check_1e2fbd1b39 TO check_ci_builds_name_length;
ALTER INDEX public.index_projects_on_namespace_id RENAME TO index_projects_on_namespace_id_old;
