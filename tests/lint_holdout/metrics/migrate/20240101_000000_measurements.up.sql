CREATE SCHEMA IF NOT EXISTS metrics;
CREATE TABLE metrics.measurements (
    device_id bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    value double precision,
    PRIMARY KEY (device_id, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE TABLE metrics.measurements_2024_01 PARTITION OF metrics.measurements
    FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE metrics.measurements_2024_02 PARTITION OF metrics.measurements
    FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE INDEX measurements_recorded_at_idx ON metrics.measurements (recorded_at);
