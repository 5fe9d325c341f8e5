ALTER TYPE forum.post_state ADD VALUE IF NOT EXISTS 'archived' AFTER 'hidden';
-- expect: SQM416
UPDATE forum.posts SET state = 'archived' WHERE topic_id IN (SELECT id FROM forum.topics WHERE archived);
-- topics.note is text: the same word here is just a string, and the server accepts it.
UPDATE forum.topics SET note = 'archived' WHERE archived AND note IS NULL;
SELECT count(*) FROM forum.posts WHERE state::text = 'archived'::text;
