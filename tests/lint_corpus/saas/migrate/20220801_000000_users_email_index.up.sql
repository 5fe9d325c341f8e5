-- sqlmig: no-transaction
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS index_users_on_email ON public.users (email);
