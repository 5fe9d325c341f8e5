-- sqlmig: no-transaction
DROP INDEX CONCURRENTLY IF EXISTS public.index_ci_builds_on_project_id_and_ref_running;
