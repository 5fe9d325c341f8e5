DROP TABLE IF EXISTS {{ schema | ident }}.countries;
DROP TABLE IF EXISTS {{ schema | ident }}.products;
