-- Liquibase modifyDataType, written out.
ALTER TABLE iam.client ALTER COLUMN description TYPE varchar(4000);
ALTER TABLE iam.client ALTER COLUMN secret TYPE text;
-- varchar to text through a plain cast: binary compatible, no rewrite.
ALTER TABLE iam.client_attributes ALTER COLUMN value TYPE text USING value::text;
-- expect: SQM404
ALTER TABLE iam.realm ALTER COLUMN created_timestamp TYPE bigint USING created_timestamp::bigint;
-- expect: SQM404
ALTER TABLE iam.realm ALTER COLUMN ssl_required TYPE char(10);
