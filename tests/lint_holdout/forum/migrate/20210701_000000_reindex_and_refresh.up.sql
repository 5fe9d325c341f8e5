CREATE MATERIALIZED VIEW forum.top_topics AS
    SELECT t.id, t.title, t.posts_count FROM forum.topics t ORDER BY t.posts_count DESC LIMIT 100;
CREATE UNIQUE INDEX top_topics_id ON forum.top_topics (id);
-- Created above: empty, nobody reads it yet.
REFRESH MATERIALIZED VIEW forum.top_topics;
-- CONCURRENTLY is allowed inside a transaction block for a materialized view.
REFRESH MATERIALIZED VIEW CONCURRENTLY forum.top_topics;
-- expect: SQM423
REINDEX INDEX forum.posts_pkey;
-- expect: SQM422
CLUSTER forum.posts USING posts_pkey;
ALTER TABLE forum.topics CLUSTER ON topics_pkey;
