-- The security advisor's fix: pin the search_path of SECURITY DEFINER functions.
ALTER FUNCTION public.handle_new_user() SET search_path = '';

CREATE OR REPLACE FUNCTION public.is_admin()
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  select exists (select 1 from public.profiles where id = auth.uid() and role = 'admin')
$$;
