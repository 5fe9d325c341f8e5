-- No CASCADE: dropping a schema that still holds objects is a mistake worth stopping at.
DROP SCHEMA IF EXISTS app;
DROP SCHEMA IF EXISTS master;
DROP SCHEMA IF EXISTS auth;
