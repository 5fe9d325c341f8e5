CREATE TABLE IF NOT EXISTS master.categories (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    parent_id integer REFERENCES master.categories (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS master.locations (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    city text NOT NULL,
    country char(2) NOT NULL,
    UNIQUE (city, country)
);
