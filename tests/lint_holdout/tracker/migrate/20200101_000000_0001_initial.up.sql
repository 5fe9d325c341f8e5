--
-- Create model Organization
--
CREATE TABLE "sentry_organization" ("id" bigserial NOT NULL PRIMARY KEY, "name" varchar(64) NOT NULL, "slug" varchar(50) NOT NULL UNIQUE, "status" integer NOT NULL CHECK ("status" >= 0), "date_added" timestamp with time zone NOT NULL);
--
-- Create model Project
--
CREATE TABLE "sentry_project" ("id" bigserial NOT NULL PRIMARY KEY, "slug" varchar(50) NULL, "name" varchar(200) NOT NULL, "organization_id" bigint NOT NULL, "platform" varchar(64) NULL);
ALTER TABLE "sentry_project" ADD CONSTRAINT "sentry_project_organization_id_01a1e1d3_fk_sentry_or" FOREIGN KEY ("organization_id") REFERENCES "sentry_organization" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "sentry_organization_slug_1b8f8d31_like" ON "sentry_organization" ("slug" varchar_pattern_ops);
CREATE INDEX "sentry_project_slug_7e0cc0d3" ON "sentry_project" ("slug");
CREATE INDEX "sentry_project_slug_7e0cc0d3_like" ON "sentry_project" ("slug" varchar_pattern_ops);
CREATE INDEX "sentry_project_organization_id_01a1e1d3" ON "sentry_project" ("organization_id");
