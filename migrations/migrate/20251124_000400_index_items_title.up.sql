-- sqlmig: no-transaction
-- CONCURRENTLY builds the index without blocking writes, and cannot run inside a transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_title_idx ON app.items (title);
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_user_id_idx ON app.items (user_id);
