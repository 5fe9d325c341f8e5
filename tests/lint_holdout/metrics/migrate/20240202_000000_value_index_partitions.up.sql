-- sqlmig: no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS measurements_2024_01_value_idx ON metrics.measurements_2024_01 (value);
CREATE INDEX CONCURRENTLY IF NOT EXISTS measurements_2024_02_value_idx ON metrics.measurements_2024_02 (value);
ALTER INDEX metrics.measurements_value_idx ATTACH PARTITION metrics.measurements_2024_01_value_idx;
ALTER INDEX metrics.measurements_value_idx ATTACH PARTITION metrics.measurements_2024_02_value_idx;
