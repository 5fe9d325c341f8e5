ALTER TABLE public.accounts ADD COLUMN stripe_customer_id varchar(255);
-- expect: SQM401
CREATE UNIQUE INDEX index_accounts_on_stripe_customer_id ON public.accounts (stripe_customer_id);
