/* Longer vendor types: varchar(16) to varchar(64) rewrites nothing. */
ALTER TABLE execution ALTER COLUMN vendor_type TYPE varchar(64);
ALTER TABLE execution ALTER COLUMN trigger TYPE varchar(64);

/* smallint to int: every task row is rewritten. */
-- expect: SQM404
ALTER TABLE task ALTER COLUMN status_code TYPE int;

-- expect: SQM401
CREATE INDEX IF NOT EXISTS idx_task_job_id ON task (job_id);
-- expect: SQM401
CREATE INDEX IF NOT EXISTS idx_execution_vendor_type_vendor_id ON execution (vendor_type, vendor_id);

/* The old audit log is kept for reading; the core of this release writes to audit_log_ext. */
-- expect: SQM412
ALTER TABLE audit_log RENAME TO audit_log_legacy;

CREATE TABLE IF NOT EXISTS audit_log_ext (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    project_id BIGINT,
    operation VARCHAR(50) NULL,
    resource_type VARCHAR(255) NULL,
    resource VARCHAR(1024) NULL,
    username VARCHAR(255) NULL,
    op_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
