-- One schema per tenant, rendered with --schema for each of them.
CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};

CREATE TABLE IF NOT EXISTS {{ schema | ident }}.projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    archived_at timestamptz
);

CREATE TABLE IF NOT EXISTS {{ schema | ident }}.tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES {{ schema | ident }}.projects (id) ON DELETE CASCADE,
    title text NOT NULL,
    due_on date,
    done boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS tasks_project_id_idx ON {{ schema | ident }}.tasks (project_id);
