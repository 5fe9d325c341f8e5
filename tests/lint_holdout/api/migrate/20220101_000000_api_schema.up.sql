CREATE SCHEMA IF NOT EXISTS api;
CREATE SCHEMA IF NOT EXISTS basic_auth;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_anon') THEN
        CREATE ROLE web_anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator NOINHERIT LOGIN;
    END IF;
END
$$;
GRANT web_anon TO authenticator;

CREATE TABLE basic_auth.users (
    email text PRIMARY KEY CHECK (email ~* '^.+@.+\..+$'),
    pass text NOT NULL CHECK (length(pass) < 512),
    role name NOT NULL CHECK (length(role) < 512)
);

CREATE TABLE api.todos (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner text NOT NULL DEFAULT current_setting('request.jwt.claims', true)::json->>'email',
    done boolean NOT NULL DEFAULT false,
    task text NOT NULL,
    due timestamptz
);
ALTER TABLE api.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_owner ON api.todos
    USING (owner = current_setting('request.jwt.claims', true)::json->>'email')
    WITH CHECK (owner = current_setting('request.jwt.claims', true)::json->>'email');
GRANT SELECT, INSERT, UPDATE, DELETE ON api.todos TO web_anon;

CREATE OR REPLACE FUNCTION basic_auth.encrypt_pass() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF tg_op = 'INSERT' OR new.pass <> old.pass THEN
        new.pass = public.crypt(new.pass, public.gen_salt('bf'));
    END IF;
    RETURN new;
END
$$;
CREATE TRIGGER encrypt_pass BEFORE INSERT OR UPDATE ON basic_auth.users
    FOR EACH ROW EXECUTE PROCEDURE basic_auth.encrypt_pass();
