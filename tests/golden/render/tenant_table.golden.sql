-- A tenant's table; the schema comes from --schema and is quoted by `ident`.
CREATE TABLE IF NOT EXISTS "tenant_42".items (
    id bigint PRIMARY KEY,
    label text NOT NULL DEFAULT 'it''s new'
);
