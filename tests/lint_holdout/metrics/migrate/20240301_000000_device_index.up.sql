-- Recurses into every partition, each locked against writes while its index builds.
-- expect: SQM401
CREATE INDEX measurements_device_idx ON metrics.measurements (device_id, value);
