-- sqlmig: no-transaction
DROP INDEX CONCURRENTLY IF EXISTS app.items_user_id_idx;
DROP INDEX CONCURRENTLY IF EXISTS app.items_title_idx;
