--
-- Rename model GroupedMessage to Group
--
-- expect: SQM412
ALTER TABLE "sentry_groupedmessage" RENAME TO "sentry_group";
-- The old table keeps its rows under its new name: an index on it locks them.
-- expect: SQM401
CREATE INDEX "sentry_group_last_seen_idx" ON "sentry_group" ("last_seen");
-- A new table under the old name.
CREATE TABLE "sentry_groupedmessage" ("id" bigserial NOT NULL PRIMARY KEY, "group_id" bigint NOT NULL);
CREATE INDEX "sentry_groupedmessage_group_id_idx" ON "sentry_groupedmessage" ("group_id");
