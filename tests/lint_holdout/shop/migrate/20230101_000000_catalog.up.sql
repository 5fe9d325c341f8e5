CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};
CREATE TABLE IF NOT EXISTS {{ schema | ident }}.products (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku text NOT NULL,
    title text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {{ schema | ident }}.countries (code char(2) PRIMARY KEY, name text NOT NULL);
CREATE TEMP TABLE staging_products (LIKE {{ schema | ident }}.products);
CREATE INDEX ON staging_products (sku);
