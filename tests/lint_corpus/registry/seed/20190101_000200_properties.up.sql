/* Configuration rows; the table they go to is created here too, which belongs in a migration. */
-- expect: SQM201
CREATE TABLE IF NOT EXISTS properties (
    id SERIAL PRIMARY KEY NOT NULL,
    k varchar(64) NOT NULL,
    v text NOT NULL,
    UNIQUE (k)
);
INSERT INTO properties (k, v) VALUES ('auth_mode', 'db_auth'), ('self_registration', 'true') ON CONFLICT (k) DO NOTHING;
