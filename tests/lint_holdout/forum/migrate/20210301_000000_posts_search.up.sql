-- Idempotent column add, the way older Discourse migrations guarded it.
-- expect: SQM418
DO $$
BEGIN
    ALTER TABLE forum.posts ADD COLUMN word_count integer;
EXCEPTION
    WHEN duplicate_column THEN RAISE NOTICE 'word_count exists';
END
$$;

-- A type has no IF NOT EXISTS: the usual guard, no table is touched.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'notification_level' AND n.nspname = 'forum') THEN
        CREATE TYPE forum.notification_level AS ENUM ('muted', 'regular', 'watching');
    END IF;
END
$$;

-- expect: SQM418
DO $body$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['topics', 'posts'] LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON forum.%I (id)', tbl || '_id_idx', tbl);
    END LOOP;
END
$body$;
