-- expect: SQM409
ALTER TABLE public.accounts ADD CONSTRAINT accounts_username_domain_key UNIQUE (username, domain);
-- expect: SQM405
ALTER TABLE public.statuses ADD CONSTRAINT statuses_visibility_check CHECK (visibility BETWEEN 0 AND 4);
-- expect: SQM405
ALTER TABLE public.statuses ADD CONSTRAINT fk_statuses_reblog FOREIGN KEY (reblog_of_id) REFERENCES public.statuses (id) ON DELETE CASCADE;
-- expect: SQM408
ALTER TABLE public.statuses ALTER COLUMN uri SET NOT NULL;
