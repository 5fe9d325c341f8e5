-- Fails at once: CREATE DATABASE cannot run inside a transaction block.
-- expect: SQM417
CREATE DATABASE reporting;
