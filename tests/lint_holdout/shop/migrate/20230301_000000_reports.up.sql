CREATE TABLE {{ schema | ident }}.daily_sales AS
    SELECT date_trunc('day', created_at) AS day, count(*) AS n FROM {{ schema | ident }}.products GROUP BY 1;
-- The table is this file's: filled above, used by nobody yet.
CREATE UNIQUE INDEX daily_sales_day ON {{ schema | ident }}.daily_sales (day);
ALTER TABLE {{ schema | ident }}.daily_sales ADD PRIMARY KEY (day);
SELECT * INTO {{ schema | ident }}.sku_snapshot FROM {{ schema | ident }}.products;
CREATE INDEX sku_snapshot_sku ON {{ schema | ident }}.sku_snapshot (sku);
-- expect: SQM417
CREATE DATABASE shop_reports;
-- expect: SQM407
ALTER SYSTEM SET track_io_timing = on;
