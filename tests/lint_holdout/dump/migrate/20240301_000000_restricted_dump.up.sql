--
-- PostgreSQL database dump
--

-- expect: SQM003
\restrict 4xGgZr1hZkhcPO0vGmD9kMH3d9OeQ7PqY2bK1uKzJbCwLwPj0tSeWa6VcfTkB0u

-- Dumped from database version 17.6
-- Dumped by pg_dump version 17.6

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE inventory.store (
    store_id integer NOT NULL,
    manager_staff_id integer NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY inventory.store
    ADD CONSTRAINT store_pkey PRIMARY KEY (store_id);

-- expect: SQM003
\unrestrict 4xGgZr1hZkhcPO0vGmD9kMH3d9OeQ7PqY2bK1uKzJbCwLwPj0tSeWa6VcfTkB0u
