/* The registry's first schema. Harbor-style: tables in the connection's default schema. */
CREATE TABLE IF NOT EXISTS role (
    role_id SERIAL PRIMARY KEY NOT NULL,
    role_mask int DEFAULT 0 NOT NULL,
    role_code varchar(20),
    name varchar(20),
    UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS project (
    project_id SERIAL PRIMARY KEY NOT NULL,
    owner_id int NOT NULL,
    name varchar(255) NOT NULL,
    creation_time timestamp,
    update_time timestamp,
    deleted boolean DEFAULT false NOT NULL,
    UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS repository (
    repository_id SERIAL PRIMARY KEY NOT NULL,
    name varchar(255) NOT NULL,
    project_id int NOT NULL,
    description text,
    pull_count int DEFAULT 0 NOT NULL,
    star_count int DEFAULT 0 NOT NULL,
    creation_time timestamp default CURRENT_TIMESTAMP,
    update_time timestamp default CURRENT_TIMESTAMP,
    UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS artifact (
    id SERIAL PRIMARY KEY NOT NULL,
    project_id int NOT NULL,
    repo varchar(255) NOT NULL,
    tag varchar(255) NOT NULL,
    digest varchar(255) NOT NULL,
    kind varchar(255) NOT NULL,
    creation_time timestamp default CURRENT_TIMESTAMP,
    pull_time timestamp,
    push_time timestamp,
    CONSTRAINT unique_artifact UNIQUE (project_id, repo, tag)
);

CREATE TABLE IF NOT EXISTS artifact_blob (
    id SERIAL PRIMARY KEY NOT NULL,
    digest_af varchar(255) NOT NULL,
    digest_blob varchar(255) NOT NULL,
    creation_time timestamp default CURRENT_TIMESTAMP,
    CONSTRAINT unique_artifact_blob UNIQUE (digest_af, digest_blob)
);

CREATE TABLE IF NOT EXISTS task (
    id SERIAL PRIMARY KEY NOT NULL,
    execution_id int NOT NULL,
    job_id varchar(64),
    status varchar(16) NOT NULL,
    status_code smallint NOT NULL,
    extra_attrs JSON,
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    update_time timestamp
);

CREATE TABLE IF NOT EXISTS execution (
    id SERIAL PRIMARY KEY NOT NULL,
    vendor_type varchar(16) NOT NULL,
    vendor_id int,
    status varchar(16),
    trigger varchar(16) NOT NULL,
    extra_attrs JSON,
    start_time timestamp DEFAULT CURRENT_TIMESTAMP,
    end_time timestamp
);
CREATE INDEX IF NOT EXISTS idx_task_status ON task (status);

CREATE TABLE IF NOT EXISTS audit_log (
    id SERIAL PRIMARY KEY NOT NULL,
    project_id int NOT NULL,
    repo_name varchar(256),
    operation varchar(20) NOT NULL,
    username varchar(255) NOT NULL,
    op_time timestamp default CURRENT_TIMESTAMP
);

CREATE OR REPLACE FUNCTION update_update_time_at_column() RETURNS TRIGGER AS $$
  BEGIN
    NEW.update_time = NOW();
    RETURN NEW;
  END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER project_update_time_at_modtime BEFORE UPDATE ON project FOR EACH ROW EXECUTE PROCEDURE update_update_time_at_column();
CREATE TRIGGER repository_update_time_at_modtime BEFORE UPDATE ON repository FOR EACH ROW EXECUTE PROCEDURE update_update_time_at_column();
