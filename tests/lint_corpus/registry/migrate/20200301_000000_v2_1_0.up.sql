DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'artifact' AND column_name = 'icon') THEN
    /* added here, lint does not see it: nor does verify's reading of this file */
    ALTER TABLE artifact ADD COLUMN icon varchar(255);
  END IF;
END $$;  -- expect: SQM418

/* A DO block that only changes data: no DDL hidden in it. */
DO $$
DECLARE
    art RECORD;
BEGIN
    FOR art IN SELECT id FROM artifact WHERE type = 'CHART' AND icon IS NULL LOOP
        UPDATE artifact SET icon = 'sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06' WHERE id = art.id;
    END LOOP;
END $$;

CREATE TABLE IF NOT EXISTS p2p_preheat_instance (
    id SERIAL PRIMARY KEY NOT NULL,
    name varchar(255) NOT NULL,
    description varchar(255),
    vendor varchar(255) NOT NULL,
    endpoint varchar(255) NOT NULL,
    auth_mode varchar(255),
    auth_data text,
    enabled boolean,
    is_default boolean,
    insecure boolean,
    setup_timestamp int,
    UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS report_vulnerability_record (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    report_uuid TEXT NOT NULL DEFAULT '',
    vuln_record_id BIGINT NOT NULL DEFAULT 0,
    UNIQUE (report_uuid, vuln_record_id)
);

CREATE TABLE IF NOT EXISTS scan_report (
    id SERIAL PRIMARY KEY NOT NULL,
    uuid varchar(64) UNIQUE NOT NULL,
    digest varchar(256) NOT NULL,
    registration_uuid varchar(64) NOT NULL,
    mime_type varchar(256) NOT NULL,
    report JSON,
    UNIQUE (digest, registration_uuid, mime_type)
);
