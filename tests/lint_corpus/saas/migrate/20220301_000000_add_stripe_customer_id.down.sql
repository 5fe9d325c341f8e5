-- expect: SQM410
DROP INDEX public.index_accounts_on_stripe_customer_id;
ALTER TABLE public.accounts DROP COLUMN stripe_customer_id;
