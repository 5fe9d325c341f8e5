-- sqlmig: no-transaction
-- Each statement commits on its own: the validation runs without the ADD's lock.
ALTER TABLE public.statuses ADD CONSTRAINT statuses_in_reply_to_null CHECK (in_reply_to_id IS NOT NULL) NOT VALID;
ALTER TABLE public.statuses VALIDATE CONSTRAINT statuses_in_reply_to_null;
ALTER TABLE public.statuses ALTER COLUMN in_reply_to_id SET NOT NULL;
ALTER TABLE public.statuses DROP CONSTRAINT IF EXISTS statuses_in_reply_to_null;
