CREATE TYPE river_job_state AS ENUM (
    'available',
    'cancelled',
    'completed',
    'discarded',
    'retryable',
    'running',
    'scheduled'
);

CREATE TABLE river_job (
    id bigserial PRIMARY KEY,
    -- 8 bytes each (no alignment padding)
    args jsonb,
    attempt smallint NOT NULL DEFAULT 0,
    attempted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT NOW(),
    errors jsonb[],
    finalized_at timestamptz,
    scheduled_at timestamptz NOT NULL DEFAULT NOW(),
    -- 2 bytes
    priority smallint NOT NULL DEFAULT 1,
    -- types stored out-of-band
    attempted_by text[],
    kind text NOT NULL,
    max_attempts smallint NOT NULL,
    metadata jsonb,
    queue text NOT NULL DEFAULT 'default',
    state river_job_state NOT NULL DEFAULT 'available',
    tags varchar(255)[],
    CONSTRAINT max_attempts_is_positive CHECK (max_attempts > 0),
    CONSTRAINT priority_in_range CHECK (priority >= 1 AND priority <= 4),
    CONSTRAINT queue_length CHECK (char_length(queue) > 0 AND char_length(queue) < 128),
    CONSTRAINT kind_length CHECK (char_length(kind) > 0 AND char_length(kind) < 128)
);

-- We may want to consider adding another property here after `kind` if it seems like it'd be useful for something.
CREATE INDEX river_job_kind ON river_job USING btree (kind);
CREATE INDEX river_job_state_and_finalized_at_index ON river_job USING btree (state, finalized_at) WHERE finalized_at IS NOT NULL;
CREATE INDEX river_job_prioritized_fetching_index ON river_job USING btree (state, queue, priority, scheduled_at, id);
CREATE INDEX river_job_args_index ON river_job USING GIN (args);
CREATE INDEX river_job_metadata_index ON river_job USING GIN (metadata);

CREATE OR REPLACE FUNCTION river_job_notify()
    RETURNS TRIGGER
    AS $$
DECLARE
    payload json;
BEGIN
    IF NEW.state = 'available' THEN
        -- Notify will coalesce duplicate notifications within a transaction, so keep these payloads generic and
        -- no more granular than a queue.
        payload = json_build_object('queue', NEW.queue);
        PERFORM pg_notify('river_insert', payload::text);
    END IF;
    RETURN NULL;
END;
$$
LANGUAGE plpgsql;

CREATE TRIGGER river_notify
    AFTER INSERT ON river_job
    FOR EACH ROW
    EXECUTE PROCEDURE river_job_notify();

CREATE UNLOGGED TABLE river_leader (
    -- 8 bytes each (no alignment padding)
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    -- types stored out-of-band
    leader_id text NOT NULL,
    name text PRIMARY KEY,
    CONSTRAINT name_length CHECK (char_length(name) > 0 AND char_length(name) < 128),
    CONSTRAINT leader_id_length CHECK (char_length(leader_id) > 0 AND char_length(leader_id) < 128)
);
