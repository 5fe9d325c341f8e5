-- sqlmig: no-transaction
DROP INDEX CONCURRENTLY IF EXISTS public.index_users_on_email;
