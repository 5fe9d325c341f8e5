--
-- Add field first_event to project
--
ALTER TABLE "sentry_project" ADD COLUMN "first_event" timestamp with time zone NULL;
--
-- Add field flags to project
--
ALTER TABLE "sentry_project" ADD COLUMN "flags" bigint DEFAULT 0 NOT NULL;
ALTER TABLE "sentry_project" ALTER COLUMN "flags" DROP DEFAULT;
--
-- Add field team to project
--
ALTER TABLE "sentry_project" ADD COLUMN "team_id" bigint NULL;
-- expect: SQM405
ALTER TABLE "sentry_project" ADD CONSTRAINT "sentry_project_team_id_0a5c0e2b_fk_sentry_team_id" FOREIGN KEY ("team_id") REFERENCES "sentry_organization" ("id") DEFERRABLE INITIALLY DEFERRED;
-- expect: SQM401
CREATE INDEX "sentry_project_team_id_0a5c0e2b" ON "sentry_project" ("team_id");
--
-- Alter field slug on project
--
ALTER TABLE "sentry_project" ALTER COLUMN "slug" TYPE varchar(100);
