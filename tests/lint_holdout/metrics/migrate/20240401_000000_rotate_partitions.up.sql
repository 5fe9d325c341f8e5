CREATE TABLE IF NOT EXISTS metrics.measurements_2024_03 (LIKE metrics.measurements INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE metrics.measurements_2024_03 ADD CONSTRAINT measurements_2024_03_range
    CHECK (recorded_at >= '2024-03-01' AND recorded_at < '2024-04-01');
ALTER TABLE metrics.measurements ATTACH PARTITION metrics.measurements_2024_03
    FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
-- expect: SQM402
ALTER TABLE metrics.measurements DETACH PARTITION metrics.measurements_2024_01 CONCURRENTLY;
-- expect: SQM406
VACUUM ANALYZE metrics.measurements_2024_03;
