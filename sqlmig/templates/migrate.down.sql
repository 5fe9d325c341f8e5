-- Reverts {{ name }}: undo exactly what the .up.sql file did, in reverse order.
{% if table %}
DROP TABLE IF EXISTS {{ schema }}.{{ table }};
{% else %}
-- ALTER TABLE {{ schema or "schema" }}.table_name DROP COLUMN IF EXISTS column_name;
{% endif %}
