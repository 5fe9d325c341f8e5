-- River's own bookkeeping of its schema versions. Names are unqualified on purpose: River installs into whatever
-- schema the connection's search_path selects.
CREATE TABLE river_migration (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT NOW(),
    version bigint NOT NULL,
    CONSTRAINT version CHECK (version >= 1)
);
CREATE UNIQUE INDEX ON river_migration USING btree (version);
