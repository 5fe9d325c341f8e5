-- expect: SQM408
ALTER TABLE {{ schema | ident }}.tasks ALTER COLUMN due_on SET NOT NULL;
-- An identity column numbers every existing row: the table is rewritten.
-- expect: SQM411
ALTER TABLE {{ schema | ident }}.tasks ADD COLUMN position integer GENERATED ALWAYS AS IDENTITY;
