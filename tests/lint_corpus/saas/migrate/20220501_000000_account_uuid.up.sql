-- Public ids for the API.
-- expect: SQM411
ALTER TABLE public.accounts ADD COLUMN uuid uuid NOT NULL DEFAULT gen_random_uuid();
-- now() is STABLE, not volatile: evaluated once, stored as the column's fast default, no rewrite.
ALTER TABLE public.users ADD COLUMN last_seen_at timestamptz DEFAULT now();
ALTER TABLE public.users ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;
