-- A nullable reference without a default: the new key is valid without a scan.
ALTER TABLE public.statuses ADD COLUMN application_id bigint REFERENCES public.accounts (id) ON DELETE SET NULL;
-- expect: SQM414
ALTER TABLE public.statuses ADD COLUMN moved_to_account_id bigint DEFAULT 0 NOT NULL REFERENCES public.accounts (id);
