-- expect: SQM413
ALTER TABLE public.users DROP COLUMN legacy_password_digest;
-- expect: SQM401
CREATE INDEX index_users_on_account_id_and_created_at ON public.users (account_id, created_at);
-- expect: SQM410
DROP INDEX public.index_users_on_account_id;
