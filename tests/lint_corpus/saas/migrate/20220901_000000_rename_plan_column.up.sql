-- The running release still selects accounts.plan.
-- expect: SQM412
ALTER TABLE public.accounts RENAME COLUMN plan TO plan_code;
ALTER INDEX public.index_accounts_on_name RENAME TO accounts_name_idx;
