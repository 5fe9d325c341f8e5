-- The index built concurrently by the previous migration becomes the constraint: no scan, a short lock.
ALTER TABLE public.users ADD CONSTRAINT users_email_key UNIQUE USING INDEX index_users_on_email;
