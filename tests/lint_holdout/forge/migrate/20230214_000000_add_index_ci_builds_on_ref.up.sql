-- sqlmig: no-transaction
-- add_concurrent_index :ci_builds, [:project_id, :ref], where: "status = 'running'"
CREATE INDEX CONCURRENTLY IF NOT EXISTS index_ci_builds_on_project_id_and_ref_running
    ON public.ci_builds USING btree (project_id, ref)
    WHERE ((status)::text = 'running'::text);
