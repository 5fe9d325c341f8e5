-- {{ name }}{% if schema %} (schema {{ schema }}){% endif %}, created {{ created }}
-- Data (DML). Schema-qualify every name; ON CONFLICT DO NOTHING keeps re-runs safe.

-- INSERT INTO {{ schema or "schema" }}.table_name (name) VALUES ('example') ON CONFLICT DO NOTHING;
