ALTER TABLE iam.realm ADD COLUMN default_role varchar(255);
ALTER TABLE iam.realm ADD COLUMN sso_idle_timeout integer DEFAULT 1800;
-- The ALTER's lock is held while every realm row is written.
-- expect: SQM420
UPDATE iam.realm SET default_role = 'default-roles-' || lower(name);
-- A reviewer would ask for batches here too, but the rule is about statements without WHERE.
-- expect-missed: a backfill of every row (WHERE … IS NULL on a new column) under the ALTER's lock
UPDATE iam.realm SET sso_idle_timeout = 1800 WHERE sso_idle_timeout IS NULL;
-- Not altered by this file: no lock held on it.
UPDATE iam.client SET secret = NULL;
