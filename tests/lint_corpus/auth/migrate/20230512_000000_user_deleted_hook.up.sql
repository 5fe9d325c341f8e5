-- Created and pinned in the same transaction: nobody can call it before its search_path is set.
CREATE OR REPLACE FUNCTION auth.on_user_deleted()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
AS $$
begin
  delete from public.profiles where id = old.id;
  return old;
end;
$$;
ALTER FUNCTION auth.on_user_deleted() SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER on_auth_user_deleted
    AFTER DELETE ON auth.users
    FOR EACH ROW EXECUTE FUNCTION auth.on_user_deleted();
