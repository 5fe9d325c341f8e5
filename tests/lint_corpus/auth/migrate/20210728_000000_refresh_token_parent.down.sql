-- expect: SQM410
DROP INDEX IF EXISTS auth.refresh_tokens_parent_idx;
ALTER TABLE auth.refresh_tokens DROP COLUMN IF EXISTS parent;
