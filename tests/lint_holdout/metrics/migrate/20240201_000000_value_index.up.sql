-- The partitioned table's own index, without recursing: invalid until each partition's index is attached.
CREATE INDEX IF NOT EXISTS measurements_value_idx ON ONLY metrics.measurements (value);
