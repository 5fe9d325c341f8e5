CREATE TABLE public.account_pins (account_id bigint NOT NULL, target_account_id bigint NOT NULL);
-- A table of this file: no one uses it yet.
ALTER TABLE public.account_pins ADD CONSTRAINT account_pins_pkey PRIMARY KEY (account_id, target_account_id);
CREATE INDEX index_account_pins_on_target_account_id ON public.account_pins (target_account_id);
-- expect: SQM409
ALTER TABLE public.accounts ADD COLUMN uri character varying UNIQUE;
