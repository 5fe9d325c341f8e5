-- A NOT NULL column needs values: the account's first user becomes its owner, in a separate seed afterwards.
ALTER TABLE public.accounts ADD COLUMN owner_id bigint;
ALTER TABLE public.accounts ADD CONSTRAINT fk_accounts_owner FOREIGN KEY (owner_id) REFERENCES public.users (id) NOT VALID;
-- expect: SQM405
ALTER TABLE public.users ADD CONSTRAINT users_email_format CHECK (email LIKE '%@%');
