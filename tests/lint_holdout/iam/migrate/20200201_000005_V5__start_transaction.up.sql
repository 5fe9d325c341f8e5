-- expect: SQM008
START TRANSACTION;
ALTER TABLE iam.realm ADD COLUMN IF NOT EXISTS display_name varchar(255);
SAVEPOINT before_attributes;
ALTER TABLE iam.client ADD COLUMN IF NOT EXISTS always_display_in_console boolean DEFAULT false NOT NULL;
RELEASE SAVEPOINT before_attributes;
-- expect: SQM008
END;
