-- sqlmig: no-transaction
-- Built without blocking writes; each statement commits on its own, so each must be safe to repeat.
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_user_id_created_at_idx ON auth.sessions (user_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_not_after_idx ON auth.sessions (not_after DESC);
DROP INDEX CONCURRENTLY IF EXISTS auth.sessions_user_id_idx;
