-- SECURITY DEFINER with the tenant's schema and pg_temp last: nothing the caller creates can shadow tasks.
CREATE OR REPLACE FUNCTION {{ schema | ident }}.open_task_count() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = {{ schema | ident }}, pg_temp
    AS $$ SELECT count(*) FROM tasks WHERE NOT done $$;

DO $$ BEGIN RAISE NOTICE 'tenant % upgraded', current_schema(); END $$;
