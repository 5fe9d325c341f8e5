-- sqlmig: no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_user_id_idx ON auth.sessions (user_id);
DROP INDEX CONCURRENTLY IF EXISTS auth.sessions_not_after_idx;
DROP INDEX CONCURRENTLY IF EXISTS auth.sessions_user_id_created_at_idx;
