-- Pasted from "manage.py sqlmigrate sentry 0002", transaction and all.
-- expect: SQM008
BEGIN;
--
-- Create model GroupedMessage
--
CREATE TABLE "sentry_groupedmessage" ("id" bigserial NOT NULL PRIMARY KEY, "project_id" bigint NOT NULL, "message" text NOT NULL, "times_seen" integer NOT NULL CHECK ("times_seen" >= 0), "last_seen" timestamp with time zone NOT NULL);
CREATE INDEX "sentry_groupedmessage_project_id_7e0c9a0c" ON "sentry_groupedmessage" ("project_id");
-- expect: SQM008
COMMIT;
