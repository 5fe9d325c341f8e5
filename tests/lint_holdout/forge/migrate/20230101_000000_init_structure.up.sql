-- Initial structure, as db/structure.sql would have it.
CREATE TABLE public.namespaces (
    id bigint NOT NULL,
    name character varying NOT NULL,
    path character varying NOT NULL,
    owner_id bigint,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    type character varying DEFAULT 'User'::character varying NOT NULL
);

CREATE SEQUENCE public.namespaces_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.namespaces_id_seq OWNED BY public.namespaces.id;
ALTER TABLE ONLY public.namespaces ALTER COLUMN id SET DEFAULT nextval('public.namespaces_id_seq'::regclass);
ALTER TABLE ONLY public.namespaces ADD CONSTRAINT namespaces_pkey PRIMARY KEY (id);

CREATE TABLE public.projects (
    id bigserial PRIMARY KEY,
    namespace_id bigint NOT NULL,
    name character varying,
    description text,
    archived boolean DEFAULT false NOT NULL,
    star_count integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone,
    updated_at timestamp with time zone
);

CREATE TABLE public.ci_builds (
    id bigserial PRIMARY KEY,
    project_id integer,
    status character varying,
    name character varying,
    ref character varying,
    commit_id integer,
    created_at timestamp without time zone,
    options text
);

CREATE INDEX index_projects_on_namespace_id ON public.projects USING btree (namespace_id);
CREATE UNIQUE INDEX index_namespaces_on_path ON public.namespaces USING btree (lower((path)::text));
CREATE INDEX index_ci_builds_on_project_id_and_status ON public.ci_builds USING btree (project_id, status);

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT fk_projects_namespace_id FOREIGN KEY (namespace_id) REFERENCES public.namespaces(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.ci_builds
    ADD CONSTRAINT check_1e2fbd1b39 CHECK ((char_length(name) <= 255));
