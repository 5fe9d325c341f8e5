ALTER TABLE scan_report ADD COLUMN IF NOT EXISTS critical_cnt bigint;
ALTER TABLE scan_report ADD COLUMN IF NOT EXISTS high_cnt bigint;
-- expect: SQM401
CREATE INDEX IF NOT EXISTS idx_scan_report_digest ON scan_report (digest);

/* Added NOT VALID to keep the lock short, then validated at once: the validation runs under the ACCESS EXCLUSIVE
   lock that the ADD took, which is held until commit. */
ALTER TABLE report_vulnerability_record ADD CONSTRAINT fk_vuln_report_uuid FOREIGN KEY (report_uuid) REFERENCES scan_report (uuid) NOT VALID;
-- expect: SQM415
ALTER TABLE report_vulnerability_record VALIDATE CONSTRAINT fk_vuln_report_uuid;
