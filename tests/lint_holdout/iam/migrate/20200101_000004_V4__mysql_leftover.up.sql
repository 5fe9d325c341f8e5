-- Converted from the MySQL changelog; this line was missed.
-- expect: SQM001
ALTER TABLE iam.client MODIFY COLUMN client_id varchar(255) NOT NULL;
