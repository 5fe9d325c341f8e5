-- expect: SQM419
CREATE OR REPLACE FUNCTION api.login(email text, pass text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    _role name;
BEGIN
    SELECT basic_auth.user_role(email, pass) INTO _role;
    IF _role IS NULL THEN
        RAISE invalid_password USING message = 'invalid user or password';
    END IF;
    RETURN _role;
END;
$$;

CREATE OR REPLACE FUNCTION api.signup(email text, pass text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path FROM CURRENT
    AS $$ INSERT INTO basic_auth.users (email, pass, role) VALUES (signup.email, signup.pass, 'web_user') $$;

-- expect: SQM419
CREATE OR REPLACE PROCEDURE api.purge_done(owner_email text)
    LANGUAGE sql SECURITY DEFINER
    AS $$ DELETE FROM api.todos WHERE owner = owner_email AND done $$;

CREATE OR REPLACE FUNCTION api.me() RETURNS text
    LANGUAGE sql STABLE SECURITY INVOKER
    AS $$ SELECT current_setting('request.jwt.claims', true)::json->>'email' $$;

GRANT EXECUTE ON FUNCTION api.login(text, text) TO web_anon;
