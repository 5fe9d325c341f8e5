CREATE TABLE IF NOT EXISTS auth."user" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email varchar(255) NOT NULL UNIQUE,
    hashed_password text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS auth.session (
    id text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth."user" (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS session_user_id_idx ON auth.session (user_id);
