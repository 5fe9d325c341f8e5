-- PKCE flows.
CREATE TYPE auth.code_challenge_method AS ENUM ('s256', 'plain');
CREATE TABLE IF NOT EXISTS auth.flow_state (
    id uuid PRIMARY KEY,
    user_id uuid NULL,
    auth_code text NOT NULL,
    code_challenge_method auth.code_challenge_method NOT NULL,
    code_challenge text NOT NULL,
    provider_type text NOT NULL,
    provider_access_token text NULL,
    provider_refresh_token text NULL,
    created_at timestamptz NULL,
    updated_at timestamptz NULL
);
CREATE INDEX IF NOT EXISTS idx_auth_code ON auth.flow_state (auth_code);
-- The table is this file's own, so renaming its column breaks no running code.
ALTER TABLE auth.flow_state RENAME COLUMN provider_type TO authentication_method;
CREATE INDEX IF NOT EXISTS idx_user_id_auth_method ON auth.flow_state (user_id, authentication_method);
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS deleted_at timestamptz NULL;
