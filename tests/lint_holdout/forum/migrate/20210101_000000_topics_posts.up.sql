CREATE SCHEMA IF NOT EXISTS forum;
CREATE TYPE forum.post_state AS ENUM ('draft', 'published', 'hidden');
CREATE TABLE forum.topics (
    id serial PRIMARY KEY,
    title varchar(255) NOT NULL,
    slug varchar(255),
    posts_count integer NOT NULL DEFAULT 0,
    last_posted_at timestamp,
    archived boolean NOT NULL DEFAULT false,
    note text
);
CREATE TABLE forum.posts (
    id serial PRIMARY KEY,
    topic_id integer NOT NULL REFERENCES forum.topics (id),
    raw text NOT NULL,
    cooked text,
    state forum.post_state NOT NULL DEFAULT 'draft',
    search_data tsvector,
    created_at timestamp NOT NULL DEFAULT now()
);

-- Keeps topics.posts_count and last_posted_at in step with posts.
CREATE FUNCTION forum.update_topic_stats() RETURNS trigger
    LANGUAGE plpgsql
    AS $function$
DECLARE
    affected integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE forum.topics
           SET posts_count = posts_count + 1,
               last_posted_at = NEW.created_at
         WHERE id = NEW.topic_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE forum.topics SET posts_count = posts_count - 1 WHERE id = OLD.topic_id;
    END IF;
    GET DIAGNOSTICS affected = ROW_COUNT;
    -- a body with $$, ; and 'quotes' inside: ALTER TABLE forum.topics ADD COLUMN x int;
    RAISE DEBUG 'stats: % row(s); marker $$ ; done', affected;
    RETURN NULL;
END;
$function$;

CREATE TRIGGER posts_stats AFTER INSERT OR DELETE ON forum.posts
    FOR EACH ROW EXECUTE FUNCTION forum.update_topic_stats();
