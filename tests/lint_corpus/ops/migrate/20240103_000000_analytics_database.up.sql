-- sqlmig: no-transaction
-- Each statement runs on its own, outside a transaction block, where CREATE DATABASE is allowed.
CREATE DATABASE analytics_archive TEMPLATE template0;
