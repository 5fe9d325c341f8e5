-- The check is added NOT VALID and validated in the same transaction, so its lock is held while every row is read.
ALTER TABLE public.statuses ADD CONSTRAINT statuses_language_null CHECK (language IS NOT NULL) NOT VALID;
-- expect: SQM415
ALTER TABLE public.statuses VALIDATE CONSTRAINT statuses_language_null;
-- SET NOT NULL uses the validated check and reads nothing.
ALTER TABLE public.statuses ALTER COLUMN language SET NOT NULL;
ALTER TABLE public.statuses DROP CONSTRAINT statuses_language_null;
