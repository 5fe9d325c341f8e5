ALTER TABLE public.ci_builds VALIDATE CONSTRAINT fk_ci_builds_project_id;
