-- sqlmig: no-transaction
-- Outside a transaction the new value is committed before the UPDATE uses it.
ALTER TYPE forum.post_state ADD VALUE IF NOT EXISTS 'deleted';
UPDATE forum.posts SET state = 'deleted' WHERE raw = '';
