-- A tenant's table; the schema comes from --schema and is quoted by `ident`.
CREATE TABLE IF NOT EXISTS {{ schema | ident }}.items (
    id bigint PRIMARY KEY,
    label text NOT NULL DEFAULT {{ default_label | literal }}
);
