-- expect: SQM003
\set ON_ERROR_STOP on
SELECT pg_advisory_lock(4242);
UPDATE {{ schema | ident }}.products SET price_cents = price_cents * 2 WHERE sku = 'kaffe-500';
-- expect: SQM009
SELECT pg_advisory_unlock(4242);
