-- A debugging leftover: the rows go to psql's output, which a migration does not have.
-- expect: SQM003
COPY (SELECT sku, title FROM {{ schema | ident }}.products) TO STDOUT WITH (FORMAT csv, HEADER);
DELETE FROM {{ schema | ident }}.products WHERE sku LIKE 'test-%';
TRUNCATE {{ schema | ident }}.countries;
ANALYZE {{ schema | ident }}.products;
