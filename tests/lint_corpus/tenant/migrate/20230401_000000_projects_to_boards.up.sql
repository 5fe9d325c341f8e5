-- expect: SQM412
ALTER TABLE {{ schema | ident }}.projects RENAME TO boards;
-- expect: SQM412
ALTER TABLE {{ schema | ident }}.tasks RENAME COLUMN project_id TO board_id;
