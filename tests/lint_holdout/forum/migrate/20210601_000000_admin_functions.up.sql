-- expect: SQM419
CREATE OR REPLACE FUNCTION forum.merge_topics(source integer, target integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    AS $$
BEGIN
    UPDATE forum.posts SET topic_id = target WHERE topic_id = source;
    DELETE FROM forum.topics WHERE id = source;
END;
$$;

CREATE OR REPLACE FUNCTION forum.topic_count() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    AS $$ SELECT count(*) FROM forum.topics $$;

-- Pinned by the ALTER below, in the same transaction.
CREATE OR REPLACE FUNCTION forum.hide_post(post integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    AS $$ UPDATE forum.posts SET state = 'hidden' WHERE id = post $$;
ALTER FUNCTION forum.hide_post(integer) SET search_path = '';

-- The ALTER pins another overload, not this one.
-- expect: SQM419
CREATE OR REPLACE FUNCTION forum.move_post(post integer, topic integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    AS $$ UPDATE forum.posts SET topic_id = topic WHERE id = post $$;
ALTER FUNCTION forum.move_post(integer) SET search_path = '';

-- An existing function made SECURITY DEFINER, without a search_path.
-- expect: SQM419
ALTER FUNCTION forum.update_topic_stats() SECURITY DEFINER;
