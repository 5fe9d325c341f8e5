-- Refresh-token rotation: each token remembers the token it replaced.
ALTER TABLE auth.refresh_tokens ADD COLUMN IF NOT EXISTS parent varchar(255) NULL;

-- expect: SQM401
CREATE INDEX IF NOT EXISTS refresh_tokens_parent_idx ON auth.refresh_tokens USING btree (parent);
