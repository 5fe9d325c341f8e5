-- add_concurrent_foreign_key: NOT VALID first, validated by the next migration.
ALTER TABLE public.ci_builds
    ADD CONSTRAINT fk_ci_builds_project_id FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE CASCADE NOT VALID;
