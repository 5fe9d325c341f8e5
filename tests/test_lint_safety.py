"""The safety rules (SQM4xx), table by table: what each reports and what it leaves alone (tables the file
creates, temporary tables, no-transaction files, down files, quoted and unqualified names), and that their
findings can be suppressed. No server."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlmig.files import discover_tracks
from sqlmig.lint import RULES, LintReport, lint, lint_files
from sqlmig.render import TemplateContext

from .helpers import tree

UP = "migrate/20240101_000000_change.up.sql"
DOWN = "migrate/20240101_000000_change.down.sql"
NO_TX = "-- sqlmig: no-transaction\n"
NEW = "CREATE TABLE IF NOT EXISTS app.t (a int, b int);\n"  # a table the file creates: nobody uses it yet


def lint_tree(base: Path, files: dict[str, str]) -> LintReport:
    tree(base, files)
    found = discover_tracks(base)
    return lint_files([f for track in found.values() for f in track], TemplateContext(schema="app", vars={}))


def safety_codes(base: Path, sql: str, *, down: bool = False) -> list[str]:
    """The SQM4xx codes found in ``sql`` as the up file of a migration (or as its down file)."""
    files = {UP: "SELECT 1;\n", DOWN: sql} if down else {UP: sql, DOWN: "SELECT 1;\n"}
    return [f.code for f in lint_tree(base, files).findings if f.code.startswith("SQM4")]


# (sql, the SQM4xx codes it yields), grouped by rule.
CASES: list[tuple[str, list[str]]] = [
    # SQM401: a table that SELECT … INTO made is the file's own, as one made by CREATE TABLE AS is.
    ("CREATE INDEX IF NOT EXISTS items_sku_idx ON app.items (sku)", ["SQM401"]),
    ("SELECT * INTO app.snapshot FROM app.items;\nCREATE INDEX snapshot_sku ON app.snapshot (sku)", []),
    ("SELECT * INTO app.snapshot FROM app.items;\nCREATE INDEX items_sku ON app.items (sku)", ["SQM401"]),
    ("SELECT a INTO app.s FROM app.x UNION SELECT b FROM app.y;\nCREATE INDEX s_a ON app.s (a)", []),
    ("WITH w AS (SELECT 1 AS a) SELECT * INTO UNLOGGED app.s FROM w;\nCREATE INDEX s_a ON app.s (a)", []),
    ("SELECT * INTO TEMP snap FROM app.items;\nCREATE INDEX ON snap (sku)", []),
    ("SELECT * FROM app.items;\nCREATE INDEX items_sku ON app.items (sku)", ["SQM401"]),
    # ON ONLY a partitioned table builds nothing: the parent's index, invalid until each partition's is attached.
    ("CREATE INDEX IF NOT EXISTS m_v_idx ON ONLY metrics.m (v)", []),
    ("CREATE INDEX IF NOT EXISTS m_v_idx ON metrics.m (v)", ["SQM401"]),
    (
        "CREATE INDEX IF NOT EXISTS m_v_idx ON ONLY metrics.m (v);\n"
        "CREATE INDEX IF NOT EXISTS m1_v_idx ON metrics.m1 (v);\n"
        "ALTER INDEX metrics.m_v_idx ATTACH PARTITION metrics.m1_v_idx",
        ["SQM401"],
    ),
    # SQM404: only targets that no old type reaches without a rewrite, or a USING that computes the value.
    ("ALTER TABLE app.items ALTER COLUMN id TYPE bigint", ["SQM404"]),
    ('ALTER TABLE "App"."Items" ALTER COLUMN "Id" SET DATA TYPE int8', ["SQM404"]),
    ("ALTER TABLE items ALTER COLUMN id TYPE bigint", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN data TYPE jsonb USING data::jsonb", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN tags TYPE text[]", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN code TYPE char(3)", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN state TYPE app.item_state USING state::app.item_state", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN title TYPE text USING trim(title)", ["SQM404"]),
    ("ALTER TABLE app.items ALTER COLUMN title TYPE text", []),
    ("ALTER TABLE app.items ALTER COLUMN title TYPE varchar(255)", []),
    ("ALTER TABLE app.items ALTER COLUMN title TYPE character varying", []),
    ("ALTER TABLE app.items ALTER COLUMN title TYPE text USING title::text", []),
    ("ALTER TABLE app.items ALTER COLUMN price TYPE numeric(12, 2)", []),
    ("ALTER TABLE app.items ALTER COLUMN flags TYPE bit varying(64)", []),
    ("ALTER TABLE app.items ALTER COLUMN addr TYPE inet", []),
    ("ALTER TABLE app.items ALTER COLUMN email TYPE public.citext", []),
    ("ALTER TABLE app.items ALTER COLUMN created_at TYPE timestamptz", []),
    (NEW + "ALTER TABLE app.t ALTER COLUMN a TYPE bigint", []),
    # SQM408
    ("ALTER TABLE app.items ALTER COLUMN title SET NOT NULL", ["SQM408"]),
    ("ALTER TABLE items ALTER title SET NOT NULL", ["SQM408"]),
    ("ALTER TABLE app.items ALTER COLUMN title DROP NOT NULL", []),
    (NEW + "ALTER TABLE app.t ALTER COLUMN a SET NOT NULL", []),
    ("CREATE TEMP TABLE staging (a int);\nALTER TABLE staging ALTER COLUMN a SET NOT NULL", []),
    # Only a valid CHECK (title IS NOT NULL) of this file spares SET NOT NULL its scan: added valid (SQM405 then),
    # or added NOT VALID and validated here (SQM415 in a transaction; the safe way in a no-transaction file).
    (
        "ALTER TABLE app.items ADD CONSTRAINT items_title_nn CHECK (title IS NOT NULL);\n"
        "ALTER TABLE app.items ALTER title SET NOT NULL",
        ["SQM405"],
    ),
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_title_nn CHECK (title IS NOT NULL AND title <> '') "
        "NOT VALID;\nALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\n"
        "ALTER TABLE app.items ALTER title SET NOT NULL;\nALTER TABLE app.items DROP CONSTRAINT items_title_nn",
        [],
    ),
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_title_nn CHECK (title IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\nALTER TABLE app.items ALTER code SET NOT NULL",
        ["SQM408"],
    ),
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_title_nn CHECK (title <> '') NOT VALID;\n"
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\nALTER TABLE app.items ALTER title SET NOT NULL",
        ["SQM408"],
    ),
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_title_nn CHECK (title IS NOT NULL OR code IS NOT NULL) "
        "NOT VALID;\nALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\n"
        "ALTER TABLE app.items ALTER title SET NOT NULL",
        ["SQM408"],
    ),
    # A validated foreign key does not help SET NOT NULL.
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) REFERENCES auth.users "
        "(id) NOT VALID;\nALTER TABLE app.items VALIDATE CONSTRAINT items_owner_fk;\n"
        "ALTER TABLE app.items ALTER owner_id SET NOT NULL;\nALTER TABLE app.items DROP CONSTRAINT items_owner_fk",
        ["SQM408"],
    ),
    ("ALTER TABLE app.items VALIDATE CONSTRAINT items_fk;\nALTER TABLE app.items ALTER title SET NOT NULL", ["SQM408"]),
    (
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\nALTER TABLE app.orders ALTER title SET NOT NULL",
        ["SQM408"],
    ),
    # The safe way's second migration: the check that an earlier migration added NOT VALID is validated, used by
    # SET NOT NULL and then dropped as redundant, which shows what it was (dropped before, it would not be used).
    (
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\nALTER TABLE app.items ALTER title SET NOT NULL;\n"
        "ALTER TABLE app.items DROP CONSTRAINT items_title_nn",
        [],
    ),
    (
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\nALTER TABLE app.items DROP CONSTRAINT "
        "items_title_nn;\nALTER TABLE app.items ALTER title SET NOT NULL",
        ["SQM408"],
    ),
    (
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\n"
        "ALTER TABLE app.items ALTER title SET NOT NULL, DROP CONSTRAINT items_title_nn",
        ["SQM408"],
    ),
    # SQM409
    ("ALTER TABLE app.items ADD CONSTRAINT items_code_key UNIQUE (code)", ["SQM409"]),
    ("ALTER TABLE app.items ADD PRIMARY KEY (id)", ["SQM409"]),
    ("ALTER TABLE app.items ADD COLUMN IF NOT EXISTS code text UNIQUE", ["SQM409"]),
    ("ALTER TABLE app.items ADD CONSTRAINT items_code_key UNIQUE USING INDEX items_code_idx", []),
    ("ALTER TABLE app.items ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_id_idx", []),
    (NEW + "ALTER TABLE app.t ADD PRIMARY KEY (a)", []),
    # SQM410
    ("DROP INDEX app.items_title_idx", ["SQM410"]),
    ("DROP INDEX IF EXISTS items_title_idx", ["SQM410"]),
    (NO_TX + "DROP INDEX CONCURRENTLY IF EXISTS app.items_title_idx", []),
    ("CREATE INDEX IF NOT EXISTS items_tmp_idx ON app.items (title);\nDROP INDEX app.items_tmp_idx", ["SQM401"]),
    (NEW + "CREATE INDEX IF NOT EXISTS t_a_idx ON app.t (a);\nDROP INDEX t_a_idx", []),
    ("DROP TABLE IF EXISTS app.legacy", []),
    # SQM411
    ("ALTER TABLE app.items ADD COLUMN uid uuid DEFAULT gen_random_uuid()", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN uid uuid NOT NULL DEFAULT public.uuid_generate_v4()", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN n bigserial", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN n int GENERATED BY DEFAULT AS IDENTITY", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN r int DEFAULT (random() * 10)::int", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN seen timestamptz DEFAULT clock_timestamp()", ["SQM411"]),
    ("ALTER TABLE app.items ADD COLUMN seen timestamptz DEFAULT now()", []),
    ("ALTER TABLE app.items ADD COLUMN state text NOT NULL DEFAULT 'new'", []),
    (NEW + "ALTER TABLE app.t ADD COLUMN id bigserial", []),
    # SQM412
    ("ALTER TABLE app.items RENAME TO products", ["SQM412"]),
    ("ALTER TABLE app.items RENAME COLUMN title TO name", ["SQM412"]),
    ('ALTER TABLE IF EXISTS "Items" RENAME "Title" TO name', ["SQM412"]),
    ("ALTER TABLE app.items RENAME CONSTRAINT items_a TO items_b", []),
    ("ALTER INDEX app.items_idx RENAME TO items_title_idx", []),
    ("ALTER VIEW app.recent RENAME TO latest", []),
    (NEW + "ALTER TABLE app.t RENAME TO u;\nALTER TABLE app.u ADD COLUMN c int NOT NULL", []),
    ("ALTER TABLE app.items ADD COLUMN nm text;\nALTER TABLE app.items RENAME COLUMN nm TO name", []),
    # SQM413 (down files: below)
    ("ALTER TABLE app.items DROP COLUMN IF EXISTS legacy", ["SQM413"]),
    ("ALTER TABLE ONLY app.items DROP COLUMN legacy CASCADE", ["SQM413"]),
    (NEW + "ALTER TABLE app.t DROP COLUMN b", []),
    ("ALTER TABLE app.items ADD COLUMN tmp int;\nALTER TABLE app.items DROP COLUMN tmp", []),
    # SQM414
    # Only when the new column is not NULL in every row does PostgreSQL read the table to validate the key.
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint DEFAULT 1 REFERENCES auth.users (id)", ["SQM414"]),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint DEFAULT NULL REFERENCES auth.users (id)", ["SQM414"]),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint NOT NULL DEFAULT 1 REFERENCES auth.users", ["SQM414"]),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigserial REFERENCES auth.users (id)", ["SQM411", "SQM414"]),
    (
        "ALTER TABLE app.items ADD COLUMN owner_id bigint GENERATED ALWAYS AS (a + 1) STORED REFERENCES auth.users",
        ["SQM411", "SQM414"],
    ),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint REFERENCES auth.users (id)", []),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint REFERENCES auth.users (id) ON DELETE SET NULL", []),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint REFERENCES auth.users, ADD COLUMN n int DEFAULT 0", []),
    (
        "ALTER TABLE app.items ADD COLUMN owner_id bigint GENERATED BY DEFAULT AS IDENTITY REFERENCES auth.users",
        ["SQM411"],
    ),
    ("ALTER TABLE app.items ADD COLUMN owner_id bigint", []),
    (NEW + "ALTER TABLE app.t ADD COLUMN u bigint DEFAULT 1 REFERENCES auth.users (id)", []),
    # SQM415
    (
        "ALTER TABLE app.items ADD CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) REFERENCES auth.users (id) "
        "NOT VALID;\nALTER TABLE app.items VALIDATE CONSTRAINT items_owner_fk",
        ["SQM415"],
    ),
    (
        "ALTER TABLE app.items ADD CONSTRAINT items_qty CHECK (qty > 0) NOT VALID;\n"
        "ALTER TABLE items VALIDATE CONSTRAINT items_qty",
        ["SQM415"],
    ),
    (
        NO_TX + "ALTER TABLE app.items ADD CONSTRAINT items_qty CHECK (qty > 0) NOT VALID;\n"
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_qty",
        [],
    ),
    ("ALTER TABLE app.items VALIDATE CONSTRAINT items_qty", []),
    (
        "ALTER TABLE app.items ADD CONSTRAINT items_qty CHECK (qty > 0) NOT VALID;\n"
        "ALTER TABLE app.orders VALIDATE CONSTRAINT items_qty",
        [],
    ),
    # SQM416
    ("ALTER TYPE app.status ADD VALUE 'archived';\nUPDATE app.items SET status = 'archived' WHERE id = 1", ["SQM416"]),
    (
        "ALTER TYPE app.status ADD VALUE IF NOT EXISTS 'archived' AFTER 'done';\n"
        "ALTER TABLE app.items ALTER COLUMN status SET DEFAULT 'archived'::app.status",
        ["SQM416"],
    ),
    (
        "ALTER TYPE app.status ADD VALUE 'archived';\n"
        "CREATE INDEX IF NOT EXISTS items_live ON app.items (id) WHERE status <> 'archived'",
        ["SQM416", "SQM401"],
    ),
    ("ALTER TYPE app.status ADD VALUE 'archived';\nSELECT 'archived'::text", []),
    (NO_TX + "ALTER TYPE app.status ADD VALUE 'archived';\nUPDATE app.items SET status = 'archived' WHERE id = 1", []),
    ("ALTER TYPE app.status ADD VALUE 'b' AFTER 'a';\nALTER TYPE app.status ADD VALUE 'c' AFTER 'b'", []),
    ("ALTER TYPE app.status RENAME VALUE 'a' TO 'b';\nSELECT 'b'::app.status", []),
    ("UPDATE app.items SET status = 'archived' WHERE id = 1;\nALTER TYPE app.status ADD VALUE 'archived'", []),
    # SQM417
    ("CREATE DATABASE reports", ["SQM417"]),
    ("DROP DATABASE IF EXISTS reports", ["SQM417"]),
    ("CREATE TABLESPACE fast LOCATION '/ssd'", ["SQM417"]),
    ("DROP TABLESPACE fast", ["SQM417"]),
    ("CLUSTER", ["SQM417"]),
    ("CLUSTER app.items USING items_pkey", ["SQM422"]),
    ("REINDEX DATABASE app", ["SQM417"]),
    ("REINDEX (VERBOSE) SYSTEM", ["SQM417"]),
    ("REINDEX SCHEMA app", ["SQM417"]),
    ("REINDEX TABLE app.items", ["SQM423"]),
    ("ALTER DATABASE app SET TABLESPACE fast", ["SQM417"]),
    ("ALTER DATABASE app SET work_mem = '64MB'", []),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=db' PUBLICATION p", ["SQM417"]),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=db' PUBLICATION p WITH (create_slot = false)", []),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=db' PUBLICATION p WITH (connect = false)", []),
    ("ALTER SUBSCRIPTION s REFRESH PUBLICATION", ["SQM417"]),
    ("ALTER SUBSCRIPTION s ADD PUBLICATION p2", ["SQM417"]),
    ("ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)", []),
    ("DROP SUBSCRIPTION s", ["SQM417"]),
    ("ALTER SUBSCRIPTION s DISABLE;\nALTER SUBSCRIPTION s SET (slot_name = NONE);\nDROP SUBSCRIPTION s", []),
    (NO_TX + "CREATE DATABASE reports", []),
    ("VACUUM app.items", ["SQM406"]),
    # SQM418
    (
        "DO $$ BEGIN ALTER TABLE app.items ADD COLUMN note text; EXCEPTION WHEN duplicate_column THEN NULL; END $$",
        ["SQM418"],
    ),
    ("DO $$ BEGIN EXECUTE 'CREATE INDEX items_title_idx ON app.items (title)'; END $$", ["SQM418"]),
    ("DO LANGUAGE plpgsql 'BEGIN DROP TABLE IF EXISTS app.legacy; END'", ["SQM418"]),
    (
        "DO $body$\nDECLARE i int;\nBEGIN\n  IF true THEN\n    FOR i IN 1..2 LOOP\n"
        "      ALTER TABLE app.items RENAME COLUMN a TO b;\n    END LOOP;\n  END IF;\nEND\n$body$",
        ["SQM418"],
    ),
    ("DO $$ BEGIN CREATE TYPE app.status AS ENUM ('a'); EXCEPTION WHEN duplicate_object THEN NULL; END $$", []),
    (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF; END $$",
        [],
    ),
    # format() with a constant format string: read with each placeholder standing for a name (or a literal).
    ("DO $$ BEGIN EXECUTE format('DROP TABLE %I.items', 'app'); END $$", ["SQM418"]),
    (
        "DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['a', 'b'] LOOP\n"
        "  EXECUTE pg_catalog.format('ALTER TABLE app.%I ADD COLUMN IF NOT EXISTS c text DEFAULT %L', t, 'x');\n"
        "END LOOP; END $$",
        ["SQM418"],
    ),
    (
        "DO $$ BEGIN EXECUTE format('CREATE INDEX %1$I ON %2$I.%3$I (%4$s)', 'i', 'app', 'items', 'a'); END $$",
        ["SQM418"],
    ),
    ("DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN %s', 'items', 'c int'); END $$", []),
    ("DO $$ BEGIN EXECUTE format('DELETE FROM app.items WHERE code LIKE %L', 'a%%'); END $$", []),
    ("DO $$ DECLARE t text := 'items'; BEGIN EXECUTE 'DROP TABLE app.' || quote_ident(t); END $$", []),
    ("DO $$ BEGIN EXECUTE format(); END $$", []),
    ("DO $$ BEGIN EXECUTE 'CREATE TABLE app.pct (a text DEFAULT ''%I'')'; END $$", []),
    (NEW + "DO $$ BEGIN EXECUTE format('ALTER TABLE app.t ADD COLUMN %I int', 'c'); END $$", []),
    ("DO $$ BEGIN PERFORM pg_sleep(0); UPDATE app.items SET a = 1 WHERE id = 2; END $$", []),
    ("DO $$ BEGIN this is not plpgsql; END $$", []),
    (
        NEW + "DO $$ BEGIN ALTER TABLE app.t ADD CONSTRAINT t_a CHECK (a > 0); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        [],
    ),
    # SQM419
    ("CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$", ["SQM419"]),
    ("CREATE OR REPLACE PROCEDURE app.p() LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN END $$", ["SQM419"]),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' "
        "AS $$ SELECT 1 $$",
        [],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT "
        "AS $$ SELECT 1 $$",
        [],
    ),
    ("CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY INVOKER AS $$ SELECT 1 $$", []),
    ("CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE c SECURITY DEFINER AS 'app_lib', 'f'", []),
    # A later ALTER FUNCTION … SET search_path of the same function (same name; the same argument types if given).
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.f() SET search_path = pg_catalog, pg_temp",
        [],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f(a integer, OUT b text) LANGUAGE sql SECURITY DEFINER AS $$ SELECT '' $$;\n"
        "ALTER FUNCTION f(int4) SET search_path FROM CURRENT",
        [],
    ),
    (
        "CREATE OR REPLACE PROCEDURE app.p(a int[]) LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER PROCEDURE app.p SECURITY DEFINER SET search_path = ''",
        [],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f(a int) RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT a $$;\n"
        "ALTER FUNCTION app.f(text) SET search_path = ''",
        ["SQM419"],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.g() SET search_path = ''",
        ["SQM419"],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.f() RESET search_path",
        ["SQM419"],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.f() SET work_mem = '1MB'",
        ["SQM419"],
    ),
    (
        "ALTER FUNCTION app.f() SET search_path = '';\n"
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$",
        ["SQM419"],
    ),
    # ALTER FUNCTION … SECURITY DEFINER: reported unless that statement, or another of the file, gives the function
    # its search_path (CREATE OR REPLACE and RESET take it away again).
    ("ALTER FUNCTION app.touch() SECURITY DEFINER", ["SQM419"]),
    ("ALTER PROCEDURE app.p(int) EXTERNAL SECURITY DEFINER", ["SQM419"]),
    ("ALTER ROUTINE app.r SECURITY DEFINER", ["SQM419"]),
    ("ALTER FUNCTION app.touch() SECURITY INVOKER", []),
    ("ALTER FUNCTION app.touch() SECURITY DEFINER SECURITY INVOKER", []),
    ("ALTER FUNCTION app.touch() STABLE", []),
    ("ALTER FUNCTION app.touch() SECURITY DEFINER SET search_path = pg_catalog, pg_temp", []),
    ("ALTER FUNCTION app.touch() SECURITY DEFINER SET search_path TO DEFAULT", ["SQM419"]),
    ("ALTER FUNCTION app.f() SET search_path = '';\nALTER FUNCTION app.f() SECURITY DEFINER", []),
    ("ALTER FUNCTION f SET search_path = '';\nALTER FUNCTION app.f(int) SECURITY DEFINER", []),
    (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SET search_path = '' AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.f SECURITY DEFINER",
        [],
    ),
    ("CREATE FUNCTION app.f() RETURNS int LANGUAGE c AS 'lib', 'f';\nALTER FUNCTION app.f() SECURITY DEFINER", []),
    ("ALTER FUNCTION app.f() SECURITY DEFINER;\nALTER FUNCTION app.f() SET search_path = ''", []),
    ("ALTER FUNCTION app.f SECURITY DEFINER;\nALTER FUNCTION app.f(int4) SET search_path FROM CURRENT", []),
    ("ALTER FUNCTION app.f(int) SECURITY DEFINER;\nALTER FUNCTION app.f(text) SET search_path = ''", ["SQM419"]),
    ("ALTER FUNCTION app.f(int) SECURITY DEFINER;\nALTER FUNCTION app.f(int) RESET search_path", ["SQM419"]),
    ("ALTER FUNCTION app.g() SET search_path = '';\nALTER FUNCTION app.f() SECURITY DEFINER", ["SQM419"]),
    ("ALTER FUNCTION app.f(text) SET search_path = '';\nALTER FUNCTION app.f(int) SECURITY DEFINER", ["SQM419"]),
    (
        "ALTER FUNCTION app.f() SET search_path = '';\nALTER FUNCTION app.f() RESET ALL;\n"
        "ALTER FUNCTION app.f() SECURITY DEFINER",
        ["SQM419"],
    ),
    (
        "ALTER FUNCTION app.f() SET search_path = '';\nALTER FUNCTION app.f() RESET search_path;\n"
        "ALTER FUNCTION app.f() SECURITY DEFINER",
        ["SQM419"],
    ),
    (
        "ALTER FUNCTION app.f() SET search_path = '';\n"
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "ALTER FUNCTION app.f() SECURITY DEFINER",
        ["SQM419"],
    ),
    # SQM420
    ("ALTER TABLE app.items ADD COLUMN state text;\nUPDATE app.items SET state = 'new'", ["SQM420"]),
    ("ALTER TABLE app.items ADD COLUMN gone bool;\nDELETE FROM items", ["SQM420"]),
    ("ALTER TABLE app.items ADD COLUMN state text;\nUPDATE app.items SET state = 'new' WHERE state IS NULL", []),
    ("UPDATE app.items SET state = 'new';\nALTER TABLE app.items ADD COLUMN state2 text", []),
    (NO_TX + "ALTER TABLE app.items ADD COLUMN state text;\nUPDATE app.items SET state = 'new'", []),
    ("ALTER TABLE app.items VALIDATE CONSTRAINT items_qty;\nUPDATE app.items SET qty = 1", []),
    ("ALTER TABLE app.items ADD COLUMN x int;\nUPDATE app.orders SET x = 1", []),
    (NEW + "ALTER TABLE app.t ADD COLUMN c int;\nUPDATE app.t SET c = 1", []),
    # SQM421
    ("REFRESH MATERIALIZED VIEW app.totals", ["SQM421"]),
    (NO_TX + 'REFRESH MATERIALIZED VIEW "Totals"', ["SQM421"]),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY app.totals", []),
    ("REFRESH MATERIALIZED VIEW app.totals WITH NO DATA", []),
    ("CREATE MATERIALIZED VIEW app.totals AS SELECT 1 AS n WITH NO DATA;\nREFRESH MATERIALIZED VIEW app.totals", []),
    # SQM422 (CLUSTER of every table: SQM417)
    ("CLUSTER app.items", ["SQM422"]),
    ("CLUSTER items_pkey ON app.items", ["SQM422"]),
    (NEW + "CLUSTER app.t USING t_pkey", []),
    ("ALTER TABLE app.items CLUSTER ON items_pkey", []),
    # SQM423
    ("REINDEX INDEX app.items_title_idx", ["SQM423"]),
    ("REINDEX (VERBOSE) TABLE items", ["SQM423"]),
    (NO_TX + "REINDEX TABLE app.items", ["SQM423"]),
    (NO_TX + "REINDEX TABLE CONCURRENTLY app.items", []),
    (NO_TX + "REINDEX (CONCURRENTLY) INDEX app.items_title_idx", []),
    (NEW + "REINDEX TABLE app.t", []),
    ("CREATE INDEX IF NOT EXISTS items_x_idx ON app.items (x);\nREINDEX INDEX app.items_x_idx", ["SQM401"]),
]


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0].removeprefix(NO_TX)[:60] for c in CASES])
def test_safety_rules(tmp_path: Path, sql: str, expected: list[str]) -> None:
    assert safety_codes(tmp_path, sql + ";\n") == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE app.items DROP COLUMN IF EXISTS legacy", []),  # undoing the up's ADD COLUMN
        ("DROP INDEX IF EXISTS app.items_title_idx", ["SQM410"]),  # the lock is the same in a down file
        ("ALTER TABLE app.items RENAME COLUMN name TO title", ["SQM412"]),
    ],
)
def test_down_files(tmp_path: Path, sql: str, expected: list[str]) -> None:
    assert safety_codes(tmp_path, sql + ";\n", down=True) == expected


def test_findings_say_what_and_where(tmp_path: Path) -> None:
    sql = "SELECT 1;\n\nALTER TABLE app.items\n  ADD COLUMN uid uuid DEFAULT gen_random_uuid();\n"
    (found,) = [f for f in lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings if f.code == "SQM411"]
    assert (found.line, found.column, found.severity) == (4, 14, "warning")
    assert found.message == (
        'ADD COLUMN "uid" with the volatile default gen_random_uuid() rewrites app.items, computing a value for '
        "every row, while it blocks reads and writes"
    )
    assert "ALTER COLUMN … SET DEFAULT" in found.hint


def test_severities() -> None:
    errors = {code for code, rule in RULES.items() if code >= "SQM408" and rule.severity == "error"}
    assert errors == {"SQM416", "SQM417", "SQM419"}
    assert RULES["SQM404"].summary == "ALTER COLUMN … TYPE that rewrites a table the file does not create"


@pytest.mark.parametrize(
    "sql",
    [
        "-- sqlmig-lint: ignore SQM408 -- a dozen rows\nALTER TABLE app.items ALTER title SET NOT NULL;\n",
        "ALTER TABLE app.items DROP COLUMN IF EXISTS legacy;  -- sqlmig-lint: ignore SQM413 -- unread since v2\n",
        "-- sqlmig-lint: ignore-file SQM417 -- run by hand, never in production\nCREATE DATABASE reports;\n",
    ],
)
def test_suppressions_still_work(tmp_path: Path, sql: str) -> None:
    assert lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings == ()


def test_state_does_not_leak_between_files(tmp_path: Path) -> None:
    files = {
        "migrate/20240101_000000_add_value.up.sql": "ALTER TYPE app.status ADD VALUE 'archived';\n",
        "migrate/20240101_000000_add_value.down.sql": "SELECT 1;\n",
        "migrate/20240102_000000_use_value.up.sql": "UPDATE app.items SET status = 'archived' WHERE id = 1;\n",
        "migrate/20240102_000000_use_value.down.sql": "SELECT 1;\n",
    }
    assert [f.code for f in lint_tree(tmp_path, files).findings if f.code.startswith("SQM4")] == []


def test_foreign_key_message_says_why_rows_are_read(tmp_path: Path) -> None:
    sql = "ALTER TABLE app.items ADD COLUMN owner_id bigint DEFAULT 0 REFERENCES auth.users (id);\n"
    (found,) = [f for f in lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings if f.code == "SQM414"]
    assert found.message == (
        'ADD COLUMN "owner_id" … REFERENCES auth.users with a DEFAULT reads every row of app.items to validate the '
        "foreign key while it blocks reads and writes of app.items (and writes to auth.users): a column's "
        "REFERENCES has no NOT VALID form"
    )
    assert "add it without a DEFAULT" in found.hint


EARLIER = "migrate/20230101_000000_tables.up.sql"


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("CREATE TABLE metrics.m (d int, v int);\n", ["SQM401"]),  # ONLY changes nothing: the index is built
        ("CREATE TABLE m (d int, v int);\n", ["SQM401"]),
        ("CREATE TABLE metrics.m AS SELECT 1 AS v;\n", ["SQM401"]),
        ("CREATE TABLE metrics.m (d int, v int) PARTITION BY RANGE (d);\n", []),
        ("CREATE TABLE metrics.other (d int, v int);\n", []),
        ("CREATE TABLE other.m (d int, v int);\n", []),
        # Dropped and created again: the last creation counts.
        (
            "CREATE TABLE metrics.m (v int);\nDROP TABLE metrics.m;\n"
            "CREATE TABLE metrics.m (v int) PARTITION BY LIST (v);\n",
            [],
        ),
        (
            "CREATE TABLE metrics.m (v int) PARTITION BY LIST (v);\nDROP TABLE metrics.m;\n"
            "CREATE TABLE metrics.m (v int);\n",
            ["SQM401"],
        ),
    ],
)
def test_an_index_on_only_a_table_an_earlier_migration_made_plain(
    tmp_path: Path, created: str, expected: list[str]
) -> None:
    files = {
        EARLIER: created,
        EARLIER.replace(".up.", ".down."): "SELECT 1;\n",
        UP: "CREATE INDEX IF NOT EXISTS m_v_idx ON ONLY metrics.m (v);\n",
        DOWN: "SELECT 1;\n",
    }
    found = [f for f in lint_tree(tmp_path, files).findings if f.code.startswith("SQM4")]
    assert [(f.code, f.path.name, f.line) for f in found] == [(c, Path(UP).name, 1) for c in expected]
    if found:
        assert found[0].message.startswith("CREATE INDEX on ONLY metrics.m, which this file does not create, blocks")
        assert found[0].message.endswith("(it is not partitioned, so ONLY changes nothing)")


def test_an_index_on_only_is_decided_again_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {EARLIER: "CREATE TABLE metrics.m (v int);\n", UP: "CREATE INDEX m_v_idx ON ONLY metrics.m (v);\n"}
    tree(tmp_path, {"pyproject.toml": "[tool.sqlmig]\n", **{f"migrations/{k}": v for k, v in files.items()}})
    monkeypatch.chdir(tmp_path)
    runs = [[(f.code, f.path.name) for f in lint(rules=["SQM401"], cache=True).findings] for _ in range(2)]
    assert (tmp_path / ".sqlmig" / "lint-cache.json").is_file()
    assert runs == [[("SQM401", Path(UP).name)]] * 2  # cold, then from the cache
    (tmp_path / "migrations" / EARLIER).write_text("CREATE TABLE metrics.m (v int) PARTITION BY LIST (v);\n")
    assert lint(rules=["SQM401"], cache=True).findings == ()  # the unchanged file's entry, judged again


def test_the_index_hint_says_how_to_build_one_on_a_partitioned_table(tmp_path: Path) -> None:
    files = {UP: "CREATE INDEX IF NOT EXISTS m_v_idx ON metrics.m (v);\n", DOWN: "SELECT 1;\n"}
    (found,) = [f for f in lint_tree(tmp_path, files).findings if f.code == "SQM401"]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in found.hint
    assert "a partitioned table refuses CONCURRENTLY: index ON ONLY it, then each partition CONCURRENTLY, and " in (
        found.hint
    )
    assert "ALTER INDEX … ATTACH PARTITION" in found.hint


def test_alter_function_security_definer_says_what_and_what_to_do(tmp_path: Path) -> None:
    sql = "SELECT 1;\nALTER PROCEDURE app.p(int) SECURITY DEFINER;\n"
    (found,) = [f for f in lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings if f.code == "SQM419"]
    assert (found.line, found.severity) == (2, "error")
    assert found.message == (
        "ALTER PROCEDURE … SECURITY DEFINER makes procedure app.p run with its owner's rights, and this file gives "
        "it no search_path: it finds tables, functions and operators through the caller's search_path, which the "
        "caller controls"
    )
    assert found.hint.startswith("add SET search_path = '' and schema-qualify every name in the body")
    assert found.hint.endswith(
        "in this statement; if an earlier migration gave the procedure its search_path, suppress this with that reason"
    )


def test_findings_are_withdrawn_only_where_the_later_statement_says_so(tmp_path: Path) -> None:
    sql = (
        "CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "CREATE OR REPLACE FUNCTION app.g() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;\n"
        "ALTER TABLE app.items VALIDATE CONSTRAINT items_title_nn;\n"
        "ALTER TABLE app.items ALTER title SET NOT NULL, ALTER code SET NOT NULL;\n"
        "ALTER FUNCTION app.f() SET search_path = '';\n"
        "ALTER TABLE app.items DROP CONSTRAINT items_title_nn;\n"
    )
    found = [(f.code, f.line) for f in lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings if f.code > "SQM4"]
    # The dropped check may have stood in for either column: lint cannot tell which, so both stay.
    assert found == [("SQM419", 2), ("SQM408", 4), ("SQM408", 4)]


@pytest.mark.parametrize(
    ("sql", "code", "measured"),
    [
        ("CREATE INDEX i ON app.items (a);\n", "SQM401", True),
        ("ALTER TABLE app.items ALTER COLUMN id TYPE bigint;\n", "SQM404", True),
        ("ALTER TABLE app.items ALTER COLUMN a SET NOT NULL;\n", "SQM408", True),
        ("ALTER TABLE app.items RENAME COLUMN a TO b;\n", "SQM412", False),  # about the application, not locks
        ("ALTER TABLE app.items DROP COLUMN IF EXISTS a;\n", "SQM413", False),
    ],
)
def test_lock_and_rewrite_findings_point_to_explain(tmp_path: Path, sql: str, code: str, measured: bool) -> None:
    (found,) = [f for f in lint_tree(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}).findings if f.code == code]
    assert found.hint.endswith("run it on a scratch database: sqlmig explain") is measured
    assert found.hint.count("sqlmig explain") == int(measured)
