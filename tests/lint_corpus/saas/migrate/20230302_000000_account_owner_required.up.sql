-- The previous release's seed gave every account its owner. The validated constraint is the foreign key, not a
-- CHECK (owner_id IS NOT NULL): SET NOT NULL cannot use it and reads all of accounts under its lock.
ALTER TABLE public.accounts VALIDATE CONSTRAINT fk_accounts_owner;
-- expect: SQM408
ALTER TABLE public.accounts ALTER COLUMN owner_id SET NOT NULL;
