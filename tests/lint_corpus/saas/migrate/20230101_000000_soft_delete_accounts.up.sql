ALTER TABLE public.accounts ADD COLUMN discarded boolean;
-- Rewrites every account while the ALTER TABLE's ACCESS EXCLUSIVE lock is held, until commit.
-- expect: SQM420
UPDATE public.accounts SET discarded = false;
-- expect: SQM408
ALTER TABLE public.accounts ALTER COLUMN discarded SET NOT NULL;
ALTER TABLE public.accounts ALTER COLUMN discarded SET DEFAULT false;
