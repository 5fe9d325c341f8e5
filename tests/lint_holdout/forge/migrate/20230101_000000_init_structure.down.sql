DROP TABLE IF EXISTS public.ci_builds;
DROP TABLE IF EXISTS public.projects;
DROP TABLE IF EXISTS public.namespaces;
