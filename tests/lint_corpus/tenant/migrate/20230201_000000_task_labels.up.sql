ALTER TABLE {{ schema | ident }}.tasks ADD COLUMN IF NOT EXISTS labels text[] NOT NULL DEFAULT '{}';
-- expect: SQM401
CREATE INDEX IF NOT EXISTS tasks_labels_idx ON {{ schema | ident }}.tasks USING gin (labels);
