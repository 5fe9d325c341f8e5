"""What differs between the PostgreSQL majors sqlmig supports (14 to 18), checked on each of them.

Each test runs on every server group. Where a major behaves differently, the test says what that major does:
the grammar each major added (lint must parse it, the splitter must split it, older servers must refuse it with
the file's line), the catalog snapshot of one schema (the same on every major, but for what the majors themselves
differ in), and the NOT NULL constraints that PostgreSQL 18 keeps in ``pg_constraint``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest

import sqlmig
from sqlmig.lint.driver import lint
from sqlmig.run.connection import untested_version
from sqlmig.verify import catalog
from sqlmig.verify import scratch as verify

from .helpers import history, tree
from .pgcluster import PgServer

pytestmark = pytest.mark.core

# (first major that accepts it, what it is, a migration using it). Each also holds a statement after the new
# syntax, so a wrong split shows.
SYNTAX = [
    (
        14,
        "sql-standard-function-body",
        "CREATE FUNCTION public.two() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\n"
        "CREATE TABLE public.after (id int);\n",
    ),
    (
        15,
        "merge-and-nulls-not-distinct",
        "CREATE TABLE public.t (id int UNIQUE NULLS NOT DISTINCT, n int);\n"
        "MERGE INTO public.t USING (SELECT 1 AS id) s ON t.id = s.id\n"
        "WHEN NOT MATCHED THEN INSERT VALUES (s.id, 1);\n"
        "CREATE TABLE public.after (id int);\n",
    ),
    (
        16,
        "non-decimal-and-underscored-literals",
        "CREATE TABLE public.t (id int DEFAULT 0x1F, n bigint DEFAULT 1_000_000);\n"
        "CREATE TABLE public.after (id int);\n",
    ),
    (
        17,
        "json-table-and-merge-returning",
        "CREATE VIEW public.v AS SELECT * FROM JSON_TABLE('[{\"a\": 1}]'::jsonb, '$[*]' COLUMNS (a int PATH '$.a'));\n"
        "CREATE TABLE public.t (id int PRIMARY KEY);\n"
        "MERGE INTO public.t USING (SELECT 1 AS id) s ON t.id = s.id\n"
        "WHEN NOT MATCHED BY TARGET THEN INSERT VALUES (s.id)\nRETURNING merge_action(), t.id;\n"
        "CREATE TABLE public.after (id int);\n",
    ),
    (
        18,
        "virtual-columns-not-valid-not-null-old-new",
        "CREATE TABLE public.t (a int, b int GENERATED ALWAYS AS (a * 2) VIRTUAL);\n"
        "ALTER TABLE public.t ADD CONSTRAINT t_a_nn NOT NULL a NOT VALID;\n"
        "UPDATE public.t SET a = 1 RETURNING old.a, new.a;\n"
        "CREATE TABLE public.after (id int);\n",
    ),
]


@pytest.mark.parametrize(("first", "up"), [(first, up) for first, _, up in SYNTAX], ids=[s[1] for s in SYNTAX])
def test_the_grammar_of_each_major(
    pg_server: PgServer, db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, first: int, up: str
) -> None:
    name = "20240101_000000_syntax"
    directory = tree(tmp_path, {f"migrate/{name}.up.sql": up, f"migrate/{name}.down.sql": "SELECT 1;\n"})
    # Lint parses with PostgreSQL 18's grammar, which accepts what every supported major accepts.
    report = lint(directory)
    assert [f for f in report.findings if f.code == "SQM001"] == []
    if pg_server.version >= first:
        assert sqlmig.apply(db_url, directory).names == (name,)
        assert db.execute("SELECT to_regclass('public.after') IS NOT NULL").fetchone() == (True,)
    else:
        with pytest.raises(sqlmig.MigrationError) as caught:
            sqlmig.apply(db_url, directory)
        assert caught.value.path == directory / f"migrate/{name}.up.sql"
        assert caught.value.line is not None and caught.value.line >= 1
        assert history(db) == []
        assert db.execute("SELECT to_regclass('public.after')").fetchone() == (None,)


SCHEMA = """
CREATE SCHEMA app;
CREATE DOMAIN app.positive AS int NOT NULL CHECK (VALUE > 0);
CREATE TABLE app.items (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title text NOT NULL,
  price numeric(10,2) DEFAULT 0,
  doubled numeric GENERATED ALWAYS AS (price * 2) STORED,
  qty app.positive
);
ALTER TABLE app.items ALTER COLUMN price SET NOT NULL;
CREATE TABLE app.parts (id int NOT NULL, item int REFERENCES app.items) PARTITION BY RANGE (id);
CREATE TABLE app.parts_1 PARTITION OF app.parts FOR VALUES FROM (1) TO (100);
CREATE TABLE app.special () INHERITS (app.items);
CREATE INDEX items_title ON app.items (lower(title));
CREATE VIEW app.cheap AS SELECT id, title FROM app.items WHERE price < 10;
"""
ALL_PRIVILEGES = "DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE"


def expected_snapshot(major: int) -> dict[str, str]:
    """The snapshot of SCHEMA, with what the majors themselves differ in: 15 gave ``public`` to
    pg_database_owner and took CREATE on it from PUBLIC, 16 prints a view's columns without their table's name
    where that is unambiguous, 17 added the MAINTAIN privilege."""
    table_privileges = ALL_PRIVILEGES.replace("INSERT, ", "INSERT, MAINTAIN, ") if major >= 17 else ALL_PRIVILEGES
    public_owner = "pg_database_owner" if major >= 15 else "postgres"
    expected = {
        "comment on schema public": "standard public schema",
        "domain app.positive": "owner postgres, over integer not null",
        "domain app.positive constraint positive_check": "CHECK ((VALUE > 0))",
        "domain app.positive grant to postgres": "USAGE",
        "domain app.positive grant to public": "USAGE",
        "extension plpgsql": "version 1.0, schema pg_catalog",
        "partitioned table app.parts": "owner postgres, partition by RANGE (id)",
        "partitioned table app.parts column id": "integer not null",
        "partitioned table app.parts column item": "integer",
        "partitioned table app.parts column order": "id, item",
        "partitioned table app.parts constraint parts_item_fkey": "FOREIGN KEY (item) REFERENCES app.items(id)",
        "partitioned table app.parts grant to postgres": table_privileges,
        "schema app": "owner postgres",
        "schema app grant to postgres": "CREATE, USAGE",
        "schema public": f"owner {public_owner}",
        f"schema public grant to {public_owner}": "CREATE, USAGE",
        "schema public grant to public": "USAGE" if major >= 15 else "CREATE, USAGE",
        "view app.cheap": "owner postgres, as SELECT id, title FROM app.items WHERE (price < (10)::numeric);"
        if major >= 16
        else "owner postgres, as SELECT items.id, items.title FROM app.items WHERE (items.price < (10)::numeric);",
        "view app.cheap column id": "integer",
        "view app.cheap column order": "id, title",
        "view app.cheap column title": "text",
    }
    for table, parent in (("items", None), ("special", "items"), ("parts_1", "parts")):
        if table == "parts_1":
            expected |= {
                "table app.parts_1": "owner postgres, inherits app.parts, partition FOR VALUES FROM (1) TO (100)",
                "table app.parts_1 column id": "integer not null",
                "table app.parts_1 column item": "integer",
                "table app.parts_1 column order": "id, item",
                "table app.parts_1 constraint parts_item_fkey": "FOREIGN KEY (item) REFERENCES app.items(id)",
            }
        else:
            expected |= {
                f"table app.{table}": "owner postgres" + (f", inherits app.{parent}" if parent else ""),
                f"table app.{table} column doubled": "numeric generated always as ((price * (2)::numeric)) stored",
                f"table app.{table} column id": "integer not null"
                + (" generated always as identity" if parent is None else ""),
                f"table app.{table} column order": "id, title, price, doubled, qty",
                f"table app.{table} column price": "numeric(10,2) not null default 0",
                f"table app.{table} column qty": "app.positive",
                f"table app.{table} column title": "text not null",
            }
        expected[f"table app.{table} grant to postgres"] = table_privileges
    expected["view app.cheap grant to postgres"] = table_privileges
    expected |= {
        "table app.items constraint items_pkey": "PRIMARY KEY (id)",
        "table app.items index items_pkey": "CREATE UNIQUE INDEX items_pkey ON app.items USING btree (id)",
        "table app.items index items_title": "CREATE INDEX items_title ON app.items USING btree (lower(title))",
        "sequence app.items_id_seq": "owner postgres, integer start 1 increment 1 min 1 max 2147483647 cache 1,"
        " owned by app.items.id",
        "sequence app.items_id_seq grant to postgres": "SELECT, UPDATE, USAGE",
    }
    return expected


def test_the_catalog_snapshot_of_one_schema_on_each_major(
    pg_server: PgServer, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    db.execute(SCHEMA)
    snapshot = catalog.snapshot(db)
    expected = expected_snapshot(pg_server.version)
    assert {k: v for k, v in snapshot.items() if k not in expected} == {}
    assert snapshot == expected
    # PostgreSQL 18 keeps each NOT NULL in pg_constraint (17 a domain's), under names no snapshot shows.
    kept = db.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'n' AND connamespace = 'app'::regnamespace")
    row = kept.fetchone()
    assert row is not None
    assert (row[0] > 0) == (pg_server.version >= 17)


def test_forms_of_not_null_that_only_postgresql_18_has(
    pg_server: PgServer, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    db.execute("CREATE TABLE public.t (a int, b int, c int GENERATED ALWAYS AS (a + 1) STORED)")
    statements = {
        "ALTER TABLE public.t ADD CONSTRAINT t_a_nn NOT NULL a NOT VALID": "table public.t column a",
        "ALTER TABLE public.t ADD CONSTRAINT t_b_nn NOT NULL b NO INHERIT": "table public.t column b",
        "ALTER TABLE public.t ADD COLUMN v int GENERATED ALWAYS AS (a * 2) VIRTUAL": "table public.t column v",
    }
    if pg_server.version < 18:
        for statement in statements:
            with pytest.raises(psycopg.errors.SyntaxError):
                db.execute(statement)
        return
    for statement in statements:
        db.execute(statement)
    snapshot = catalog.snapshot(db)
    assert [snapshot[key] for key in statements.values()] == [
        "integer not null not valid",
        "integer not null no inherit",
        "integer generated always as ((a * 2)) virtual",
    ]
    assert not [key for key in snapshot if " constraint " in key]
    db.execute("ALTER TABLE public.t VALIDATE CONSTRAINT t_a_nn")
    assert catalog.snapshot(db)["table public.t column a"] == "integer not null"


def test_verify_finds_a_forgotten_not_null_on_each_major(pg_server: PgServer, tmp_path: Path) -> None:
    up = "ALTER TABLE public.items ALTER COLUMN note SET NOT NULL;\n"
    down = "ALTER TABLE public.items ALTER COLUMN note DROP NOT NULL;\n"
    if pg_server.version >= 18:
        up += "ALTER TABLE public.items ADD CONSTRAINT items_code_nn NOT NULL code NOT VALID;\n"
        down += "ALTER TABLE public.items DROP CONSTRAINT items_code_nn;\n"
    directory = tree(
        tmp_path,
        {
            "migrate/20240101_000000_items.up.sql": "CREATE TABLE public.items (id int, note text, code text);\n",
            "migrate/20240101_000000_items.down.sql": "DROP TABLE public.items;\n",
            "migrate/20240102_000000_tighten.up.sql": up,
            "migrate/20240102_000000_tighten.down.sql": "SELECT 1;\n",  # forgets all of it
        },
    )
    report = verify.verify(pg_server.url(), directory)
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", "20240102_000000_tighten")]
    changed = sorted(line for line in report.problems[0].diff if "column note" in line or "column code" in line)
    expected = ["~ table public.items column note before: text after: text not null"]
    if pg_server.version >= 18:
        expected.insert(0, "~ table public.items column code before: text after: text not null not valid")
    assert changed == expected
    (directory / "migrate/20240102_000000_tighten.down.sql").write_text(down)
    assert verify.verify(pg_server.url(), directory).ok


@pytest.mark.parametrize(
    ("server_version", "said"),
    [
        (90624, "PostgreSQL 9.6 is older than the oldest major sqlmig is tested on (14)"),
        (130022, "PostgreSQL 13.22 is older than the oldest major sqlmig is tested on (14)"),
        (140000, None),
        (180006, None),
        (190000, "PostgreSQL 19.0 is newer than the newest major sqlmig is tested on (18)"),
    ],
)
def test_what_is_said_of_an_untested_major(server_version: int, said: str | None) -> None:
    note = untested_version(server_version)
    assert (note if said is None else (note or "").split(":")[0]) == said


def test_a_supported_major_runs_without_a_warning(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tree(tmp_path, {"migrate/20240101_000000_a.up.sql": "CREATE TABLE public.a (id int);\n"})
    with caplog.at_level(logging.WARNING, logger="sqlmig"):
        sqlmig.apply(db_url, directory)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
