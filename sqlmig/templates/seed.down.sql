-- Reverts {{ name }}: delete exactly the rows the .up.sql file inserted.

-- DELETE FROM {{ schema or "schema" }}.table_name WHERE name IN ('example');
