-- {{ name }}{% if schema %} (schema {{ schema }}){% endif %}, created {{ created }}
-- Schema change (DDL). Schema-qualify every name; prefer IF NOT EXISTS so that re-running is safe.
{% if table %}
CREATE TABLE IF NOT EXISTS {{ schema }}.{{ table }} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
{% else %}
-- ALTER TABLE {{ schema or "schema" }}.table_name ADD COLUMN IF NOT EXISTS column_name text;
{% endif %}
