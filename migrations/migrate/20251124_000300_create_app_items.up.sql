CREATE TABLE IF NOT EXISTS app.items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth."user" (id) ON DELETE CASCADE,
    category_id integer REFERENCES master.categories (id),
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A template value, quoted as a literal by the `literal` filter ([tool.sqlmig] vars in pyproject.toml).
COMMENT ON TABLE app.items IS {{ ("Core business entities of " ~ product) | literal }};
