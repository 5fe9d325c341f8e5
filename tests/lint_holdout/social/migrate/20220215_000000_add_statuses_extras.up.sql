ALTER TABLE public.statuses ADD COLUMN deleted_at timestamp without time zone;
ALTER TABLE public.statuses ADD COLUMN sensitive boolean DEFAULT false NOT NULL;
ALTER TABLE public.statuses ADD COLUMN language character varying;
-- expect: SQM403
ALTER TABLE public.statuses ADD COLUMN local boolean NOT NULL;
-- expect: SQM411
ALTER TABLE public.statuses ADD COLUMN edited_at timestamp DEFAULT clock_timestamp();
ALTER TABLE public.statuses ADD COLUMN fetched_at timestamp DEFAULT now();
