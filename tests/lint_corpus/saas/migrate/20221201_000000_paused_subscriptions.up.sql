ALTER TYPE public.subscription_status ADD VALUE 'paused';
-- Fails with 55P04: the value is not committed yet.
-- expect: SQM416
UPDATE public.subscriptions SET status = 'paused' WHERE pause_collection IS NOT NULL;
