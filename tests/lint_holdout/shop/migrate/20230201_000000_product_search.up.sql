CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- expect: SQM401
CREATE INDEX IF NOT EXISTS products_title_trgm ON {{ schema | ident }}.products USING gin (title gin_trgm_ops);
-- sqlmig-lint: ignore SQM401 -- the table holds a few hundred rows per tenant
CREATE UNIQUE INDEX IF NOT EXISTS products_sku_key ON {{ schema | ident }}.products (sku);
-- A suppression left behind on a statement that builds no index.
ALTER TABLE {{ schema | ident }}.products ALTER COLUMN title SET DEFAULT ''; -- sqlmig-lint: ignore SQM401 -- small table -- expect: SQM007
