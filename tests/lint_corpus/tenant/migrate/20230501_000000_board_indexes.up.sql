-- sqlmig: no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_board_id_idx ON {{ schema | ident }}.tasks (board_id);
DROP INDEX CONCURRENTLY IF EXISTS {{ schema | ident }}.tasks_project_id_idx;
