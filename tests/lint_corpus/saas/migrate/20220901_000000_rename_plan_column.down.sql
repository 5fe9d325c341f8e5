ALTER INDEX public.accounts_name_idx RENAME TO index_accounts_on_name;
-- expect: SQM412
ALTER TABLE public.accounts RENAME COLUMN plan_code TO plan;
