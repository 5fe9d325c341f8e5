/* artifact: one row per manifest instead of one per tag. */
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS repository_id int;
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS media_type varchar(255);
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS manifest_media_type varchar(255);
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS size bigint;
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS extra_attrs text;
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS annotations jsonb;
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS type varchar(255);
ALTER TABLE artifact ADD COLUMN IF NOT EXISTS repository_name varchar(255);

/* The joined update has a WHERE, yet it writes every row while the ALTER TABLE locks above are held. */
-- expect-missed: whole-table UPDATE … FROM with a join condition every row matches, under the lock of the ALTER TABLE above
UPDATE artifact AS art
SET repository_id = repo.repository_id, repository_name = repo.name
FROM repository AS repo
WHERE art.repo = repo.name;

/* set the media type */
-- expect: SQM420
UPDATE artifact SET type = 'IMAGE', media_type = manifest_media_type;

-- expect: SQM408
ALTER TABLE artifact ALTER COLUMN repository_id SET NOT NULL;

/* The old columns are still read by the 1.10 core during a rolling upgrade. */
-- expect: SQM413
ALTER TABLE artifact DROP COLUMN IF EXISTS kind;
ALTER TABLE artifact DROP CONSTRAINT IF EXISTS unique_artifact;
-- expect: SQM409
ALTER TABLE artifact ADD CONSTRAINT unique_artifact UNIQUE (repository_id, digest);

CREATE TABLE IF NOT EXISTS tag (
    id SERIAL PRIMARY KEY NOT NULL,
    repository_id int NOT NULL,
    artifact_id int NOT NULL,
    name varchar(255) NOT NULL,
    push_time timestamp default CURRENT_TIMESTAMP,
    pull_time timestamp,
    FOREIGN KEY (artifact_id) REFERENCES artifact(id),
    CONSTRAINT unique_tag UNIQUE (repository_id, name)
);
