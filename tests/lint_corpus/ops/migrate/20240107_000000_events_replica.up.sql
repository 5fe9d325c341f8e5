-- Creates its replication slot on the publisher, which cannot be done inside a transaction block.
-- expect: SQM417
CREATE SUBSCRIPTION events_sub CONNECTION 'host=replica.internal dbname=app' PUBLICATION events_pub;
-- expect: SQM417
CLUSTER;
