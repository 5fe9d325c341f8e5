-- expect: SQM412
ALTER TABLE {{ schema | ident }}.tasks RENAME COLUMN board_id TO project_id;
-- expect: SQM412
ALTER TABLE {{ schema | ident }}.boards RENAME TO projects;
