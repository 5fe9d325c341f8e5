DROP TABLE IF EXISTS public.users;
DROP TABLE IF EXISTS public.accounts;
