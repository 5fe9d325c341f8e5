--
-- PostgreSQL database dump
--

-- Dumped from database version 16.2
-- Dumped by pg_dump version 16.2

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: inventory; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA inventory;

--
-- Name: citext; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;

COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';

--
-- Name: mpaa_rating; Type: TYPE; Schema: inventory; Owner: -
--

CREATE TYPE inventory.mpaa_rating AS ENUM (
    'G',
    'PG',
    'PG-13',
    'R',
    'NC-17'
);

CREATE DOMAIN inventory.year AS integer
	CONSTRAINT year_check CHECK (((VALUE >= 1901) AND (VALUE <= 2155)));

--
-- Name: last_updated(); Type: FUNCTION; Schema: inventory; Owner: -
--

CREATE FUNCTION inventory.last_updated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.last_update = CURRENT_TIMESTAMP;
    RETURN NEW;
END $$;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: film; Type: TABLE; Schema: inventory; Owner: -
--

CREATE TABLE inventory.film (
    film_id integer NOT NULL,
    title text NOT NULL,
    description text,
    release_year inventory.year,
    rating inventory.mpaa_rating DEFAULT 'G'::inventory.mpaa_rating,
    last_update timestamp with time zone DEFAULT now() NOT NULL,
    fulltext tsvector NOT NULL,
    email public.citext
);

CREATE SEQUENCE inventory.film_film_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE inventory.film_film_id_seq OWNED BY inventory.film.film_id;

CREATE TABLE inventory.inventory (
    inventory_id integer NOT NULL,
    film_id integer NOT NULL,
    store_id integer NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY inventory.film ALTER COLUMN film_id SET DEFAULT nextval('inventory.film_film_id_seq'::regclass);

--
-- Name: film film_pkey; Type: CONSTRAINT; Schema: inventory; Owner: -
--

ALTER TABLE ONLY inventory.film
    ADD CONSTRAINT film_pkey PRIMARY KEY (film_id);

ALTER TABLE ONLY inventory.inventory
    ADD CONSTRAINT inventory_pkey PRIMARY KEY (inventory_id);

CREATE INDEX film_fulltext_idx ON inventory.film USING gist (fulltext);

CREATE INDEX idx_title ON inventory.film USING btree (title);

CREATE INDEX idx_store_id_film_id ON inventory.inventory USING btree (store_id, film_id);

CREATE TRIGGER last_updated BEFORE UPDATE ON inventory.film FOR EACH ROW EXECUTE FUNCTION inventory.last_updated();

ALTER TABLE ONLY inventory.inventory
    ADD CONSTRAINT inventory_film_id_fkey FOREIGN KEY (film_id) REFERENCES inventory.film(film_id) ON UPDATE CASCADE ON DELETE RESTRICT;

SELECT pg_catalog.setval('inventory.film_film_id_seq', 1000, true);

--
-- PostgreSQL database dump complete
--
