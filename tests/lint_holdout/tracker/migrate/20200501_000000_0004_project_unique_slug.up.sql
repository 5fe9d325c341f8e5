--
-- Alter unique_together for project (1 constraint(s))
--
-- expect: SQM409
ALTER TABLE "sentry_project" ADD CONSTRAINT "sentry_project_organization_id_slug_5d1e5a1b_uniq" UNIQUE ("organization_id", "slug");
--
-- Alter field platform on project
--
-- expect: SQM408
ALTER TABLE "sentry_project" ALTER COLUMN "platform" SET NOT NULL;
--
-- Remove field first_event from project
--
-- expect: SQM413
ALTER TABLE "sentry_project" DROP COLUMN "first_event" CASCADE;
