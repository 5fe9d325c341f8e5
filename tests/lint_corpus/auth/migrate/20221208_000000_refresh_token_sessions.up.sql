-- Refresh tokens belong to a session.
ALTER TABLE auth.sessions ADD COLUMN IF NOT EXISTS not_after timestamptz;
ALTER TABLE auth.refresh_tokens ADD COLUMN IF NOT EXISTS session_id uuid NULL;
-- expect: SQM405
ALTER TABLE auth.refresh_tokens ADD CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES auth.sessions(id) ON DELETE CASCADE;
