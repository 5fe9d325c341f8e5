CREATE TYPE {{ schema | ident }}.priority AS ENUM ('low', 'normal', 'high');
-- A constant default of a type created in this very transaction; no new value of an existing enum is used.
ALTER TABLE {{ schema | ident }}.tasks ADD COLUMN IF NOT EXISTS priority {{ schema | ident }}.priority NOT NULL DEFAULT 'normal';
-- expect: SQM401
CREATE INDEX IF NOT EXISTS tasks_priority_idx ON {{ schema | ident }}.tasks (priority) WHERE NOT done;
