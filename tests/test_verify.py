"""sqlmig.verify against real PostgreSQL: each down must undo its up on a scratch database that is always
dropped; plus catalog.diff, which is pure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from sqlmig import DatabaseError
from sqlmig.cli.reports import verify_dict, verify_text
from sqlmig.verify import VerifyReport, catalog
from sqlmig.verify import scratch as verify

from .helpers import tree
from .pgcluster import PgServer, password_login

# Runs on every PostgreSQL major (docs/testing.md): the catalog snapshot and its diff may differ between majors.
pytestmark = pytest.mark.core

REPO = Path(__file__).resolve().parent.parent
BASE = "20240101_000000_items"
CHANGE = "20240102_000000_change"
READER = "sqlmig_verify_reader"
# A table and a trigger function that the migrations under test build on.
BASE_UP = """CREATE TABLE public.items (id int PRIMARY KEY, title text NOT NULL);
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
"""
BASE_DOWN = "DROP TABLE public.items;\nDROP FUNCTION public.touch();\n"


def scratch_databases(server: PgServer) -> set[str]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname ^@ 'sqlmig_verify_'").fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture
def server_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of the server's maintenance database; after the test, no scratch database may be left."""
    left_before = scratch_databases(pg_server)
    yield pg_server.url()
    assert scratch_databases(pg_server) <= left_before


@pytest.fixture
def reader(pg_server: PgServer) -> Iterator[str]:
    """A role to grant to: roles belong to the server, not to the scratch database, so the test makes it."""
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(READER)))
    yield READER


def migrations(base: Path, pairs: dict[str, tuple[str, str | None]], track: str = "migrate") -> Path:
    """Write ``{name: (up, down or None)}`` into ``base/<track>/``; return ``base``."""
    files: dict[str, str | bytes] = {}
    for name, (up, down) in pairs.items():
        files[f"{track}/{name}.up.sql"] = up
        if down is not None:
            files[f"{track}/{name}.down.sql"] = down
    return tree(base, files)


def with_change(tmp_path: Path, up: str, down: str | None) -> Path:
    return migrations(tmp_path, {BASE: (BASE_UP, BASE_DOWN), CHANGE: (up, down)})


def test_clean_tree_passes(server_url: str, tmp_path: Path, reader: str) -> None:
    up = f"""CREATE INDEX items_title_idx ON public.items (title);
ALTER TABLE public.items ADD COLUMN price numeric(10,2) NOT NULL DEFAULT 0 CHECK (price >= 0);
CREATE TRIGGER items_touch BEFORE UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.touch();
ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON public.items USING (price > 0);
GRANT SELECT ON public.items TO {reader};
CREATE TYPE public.mood AS ENUM ('happy', 'sad');
CREATE VIEW public.cheap AS SELECT id, title FROM public.items WHERE price < 10;
COMMENT ON TABLE public.items IS 'things for sale';
"""
    down = f"""COMMENT ON TABLE public.items IS NULL;
DROP VIEW public.cheap;
DROP TYPE public.mood;
REVOKE SELECT ON public.items FROM {reader};
DROP POLICY own ON public.items;
ALTER TABLE public.items DISABLE ROW LEVEL SECURITY;
DROP TRIGGER items_touch ON public.items;
ALTER TABLE public.items DROP COLUMN price;
DROP INDEX public.items_title_idx;
"""
    report = verify.verify(server_url, with_change(tmp_path, up, down), idempotent=False)
    assert report.ok, verify_text(report)
    assert report.checked == (BASE, CHANGE)
    assert verify_text(report) == "ok: 2 migration(s) checked, each down undoes its up"


GRANT = f"GRANT SELECT ON public.items TO {READER};\n"
FORGETFUL = [
    pytest.param(
        "CREATE INDEX items_title_idx ON public.items (title);\n",
        "SELECT 1;\n",
        "+ table public.items index items_title_idx CREATE INDEX items_title_idx ON public.items USING btree (title)",
        id="index",
    ),
    pytest.param(
        "ALTER TABLE public.items ADD COLUMN price numeric(10,2);\n",
        "SELECT 1;\n",
        "+ table public.items column price numeric(10,2)",
        id="column",
    ),
    pytest.param(
        "ALTER TABLE public.items ADD CONSTRAINT short_title CHECK (length(title) < 100);\n",
        "SELECT 1;\n",
        "+ table public.items constraint short_title CHECK ((length(title) < 100))",
        id="constraint",
    ),
    pytest.param(
        "CREATE FUNCTION public.double(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';\n",
        "SELECT 1;\n",
        "+ function public.double(x integer) owner ",
        id="function",
    ),
    pytest.param(
        "CREATE TRIGGER items_touch BEFORE UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.touch();\n",
        "SELECT 1;\n",
        "+ table public.items trigger items_touch CREATE TRIGGER items_touch BEFORE UPDATE ON public.items",
        id="trigger",
    ),
    pytest.param(
        "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;\nCREATE POLICY own ON public.items USING (true);\n",
        "ALTER TABLE public.items DISABLE ROW LEVEL SECURITY;\n",
        "+ table public.items policy own permissive for all to public using (true)",
        id="policy",
    ),
    pytest.param(
        "ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;\nCREATE POLICY own ON public.items USING (true);\n",
        "DROP POLICY own ON public.items;\n",
        "~ table public.items before: owner postgres after: owner postgres, row level security enabled",
        id="row-level-security",
    ),
    pytest.param(GRANT, "SELECT 1;\n", f"+ table public.items grant to {READER} SELECT", id="grant"),
    pytest.param(
        "CREATE INDEX items_title_idx ON public.items (title);\n",
        "DROP INDEX public.items_title_idx;\nALTER TABLE public.items DROP CONSTRAINT IF EXISTS items_pkey;\n",
        "- table public.items constraint items_pkey PRIMARY KEY (id)",
        id="drops-too-much",
    ),
]


@pytest.mark.parametrize(("up", "down", "expected"), FORGETFUL)
def test_down_that_does_not_undo_its_up(
    server_url: str, tmp_path: Path, reader: str, up: str, down: str, expected: str
) -> None:
    report = verify.verify(server_url, with_change(tmp_path, up, down))
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", CHANGE)]
    problem = report.problems[0]
    assert problem.path == tmp_path / f"migrate/{CHANGE}.down.sql"
    assert any(line.startswith(expected) for line in problem.diff), problem.diff
    assert report.checked == (BASE, CHANGE)  # found, and the older one still checked without a false alarm


def test_dropped_and_added_column_changes_column_order(server_url: str, tmp_path: Path) -> None:
    up = "ALTER TABLE public.items ALTER COLUMN id SET DEFAULT 1;\n"
    down = "ALTER TABLE public.items DROP COLUMN id;\nALTER TABLE public.items ADD COLUMN id int PRIMARY KEY;\n"
    report = verify.verify(server_url, with_change(tmp_path, up, down))
    assert report.problems[0].diff == ("~ table public.items column order before: id, title after: title, id",)


def test_up_that_gives_another_catalog_when_run_again(server_url: str, tmp_path: Path) -> None:
    # The table's name comes from a sequence, whose value no down resets: the second up makes another table.
    base = "CREATE SEQUENCE public.n;\n", "DROP SEQUENCE public.n;\n"
    up = "DO $$ BEGIN EXECUTE format('CREATE TABLE public.t_%s (id int)', nextval('public.n')); END $$;\n"
    down = "DO $$ BEGIN EXECUTE format('DROP TABLE public.t_%s', (SELECT last_value FROM public.n)); END $$;\n"
    report = verify.verify(server_url, migrations(tmp_path, {BASE: base, CHANGE: (up, down)}))
    assert [(p.kind, p.name) for p in report.problems] == [("redo-differs", CHANGE)]
    problem = report.problems[0]
    assert problem.path == tmp_path / f"migrate/{CHANGE}.up.sql"
    assert problem.diff[0].startswith("- table public.t_1 owner ")
    assert problem.diff[1].startswith("+ table public.t_2 owner ")


def test_up_that_fails_when_run_twice(server_url: str, tmp_path: Path) -> None:
    directory = with_change(tmp_path, "CREATE TABLE public.other (id int);\n", "DROP TABLE public.other;\n")
    report = verify.verify(server_url, directory, idempotent=True)
    assert [(p.kind, p.name) for p in report.problems] == [("not-idempotent", BASE), ("not-idempotent", CHANGE)]
    problem = report.problems[1]
    assert problem.path == tmp_path / f"migrate/{CHANGE}.up.sql"
    assert 'line 1: relation "other" already exists' in problem.message
    assert verify.verify(server_url, directory, idempotent=False).ok


def test_idempotent_from_the_configuration(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = with_change(tmp_path / "m", "CREATE TABLE public.other (id int);\n", "DROP TABLE public.other;\n")
    monkeypatch.chdir(tmp_path)
    assert verify.verify(server_url, directory).ok
    (tmp_path / "pyproject.toml").write_text("[tool.sqlmig]\nidempotent = true\n")
    kinds = [p.kind for p in verify.verify(server_url, directory).problems]
    assert kinds == ["not-idempotent", "not-idempotent"]
    assert verify.verify(server_url, directory, idempotent=False).ok


def test_a_second_run_that_fails_does_not_stop_verify(server_url: str, tmp_path: Path) -> None:
    # BASE_UP has no IF NOT EXISTS either; reported in the order found, oldest first, and the run goes on.
    directory = with_change(
        tmp_path, "CREATE TABLE IF NOT EXISTS public.other (id int);\n", "DROP TABLE public.other;\n"
    )
    report = verify.verify(server_url, directory, idempotent=True)
    assert [(p.kind, p.name) for p in report.problems] == [("not-idempotent", BASE)]
    assert report.checked == (BASE, CHANGE)


def test_up_that_changes_the_catalog_when_run_twice(server_url: str, tmp_path: Path) -> None:
    # An unnamed index: a second run adds another one, items_title_idx1.
    directory = migrations(
        tmp_path,
        {
            BASE: ("CREATE TABLE IF NOT EXISTS public.items (title text);\n", "DROP TABLE public.items;\n"),
            CHANGE: ("CREATE INDEX ON public.items (title);\n", "DROP INDEX public.items_title_idx;\n"),
        },
    )
    report = verify.verify(server_url, directory, idempotent=True)
    assert [(p.kind, p.name) for p in report.problems] == [("not-idempotent", CHANGE)]
    assert report.problems[0].diff[0].startswith("+ table public.items index items_title_idx1 CREATE INDEX")
    assert report.checked == (BASE, CHANGE)  # the second run was rolled back: the down check found nothing
    assert verify.verify(server_url, directory).ok


def test_missing_down(server_url: str, tmp_path: Path) -> None:
    report = verify.verify(server_url, with_change(tmp_path, "CREATE TABLE public.other (id int);\n", None))
    assert [(p.kind, p.name, p.path) for p in report.problems] == [("no-down", CHANGE, None)]
    assert f"{CHANGE}.down.sql" in report.problems[0].message
    assert report.checked == ()


def test_missing_down_of_the_oldest(server_url: str, tmp_path: Path) -> None:
    directory = migrations(
        tmp_path,
        {BASE: (BASE_UP, None), CHANGE: ("CREATE INDEX i ON public.items (title);\n", "DROP INDEX public.i;\n")},
    )
    report = verify.verify(server_url, directory)
    assert [(p.kind, p.name) for p in report.problems] == [("no-down", BASE)]
    assert report.checked == (CHANGE,)


def test_failing_down_is_reported_with_file_and_line(server_url: str, tmp_path: Path) -> None:
    down = "DROP TABLE public.other;\nDROP TABLE public.nope;\n"
    report = verify.verify(server_url, with_change(tmp_path, "CREATE TABLE public.other (id int);\n", down))
    assert [(p.kind, p.name) for p in report.problems] == [("failed", CHANGE)]
    problem = report.problems[0]
    assert problem.path == tmp_path / f"migrate/{CHANGE}.down.sql"
    assert problem.message.startswith('its down failed: line 2: table "nope" does not exist (SQLSTATE 42P01)')
    assert report.checked == ()  # the state after a failed down is unknown: the older one is not checked


def test_failing_up_still_checks_the_ones_before(server_url: str, tmp_path: Path) -> None:
    up = "CREATE TABLE public.other (id int);\nSELECT 1/0;\n"
    report = verify.verify(server_url, with_change(tmp_path, up, "DROP TABLE public.other;\n"))
    assert [(p.kind, p.name) for p in report.problems] == [("failed", CHANGE)]
    assert report.problems[0].message.startswith("its up failed: line 2: division by zero")
    assert report.checked == (BASE,)


def test_scratch_database_is_dropped_on_interrupt(
    server_url: str, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = catalog.snapshot

    def interrupted(conn: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> dict[str, str]:
        seen.append(str(conn.info.dbname))
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(catalog, "snapshot", interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify.verify(server_url, with_change(tmp_path, "CREATE TABLE public.other (id int);\n", "SELECT 1;\n"))
    assert seen[0].startswith("sqlmig_verify_") and set(seen) == {seen[0]}
    assert seen[0] not in scratch_databases(pg_server)


def test_templated_migration(server_url: str, tmp_path: Path) -> None:
    up = "CREATE SCHEMA {{ schema | ident }};\nCREATE TABLE {{ schema | ident }}.t (id int);\n"
    good = "DROP TABLE {{ schema | ident }}.t;\nDROP SCHEMA {{ schema | ident }};\n"
    assert verify.verify(server_url, migrations(tmp_path / "good", {BASE: (up, good)}), schema="Tenant A").ok
    bad = "DROP TABLE {{ schema | ident }}.t;\n"
    report = verify.verify(server_url, migrations(tmp_path / "bad", {BASE: (up, bad)}), schema="Tenant A")
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", BASE)]
    assert report.problems[0].message.endswith(
        'its up then fails when run again: line 1: schema "Tenant A" already exists (SQLSTATE 42P06)'
    )
    assert report.problems[0].diff == ('+ schema "Tenant A" owner postgres (1 more under it)',)


def test_no_transaction_migration(server_url: str, tmp_path: Path) -> None:
    up = "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON public.items (title);\n"
    down = "-- sqlmig: no-transaction\nDROP INDEX CONCURRENTLY public.items_title_idx;\n"
    directory = with_change(tmp_path, up, down)
    report = verify.verify(server_url, directory)
    assert report.ok and report.checked == (BASE, CHANGE)
    report = verify.verify(server_url, directory, idempotent=True)
    kinds = [(p.kind, p.name) for p in report.problems]
    assert ("not-idempotent", CHANGE) in kinds and "already exists" in report.problems[-1].message
    assert report.checked == (BASE, CHANGE)  # a second run that failed and changed nothing lets verify go on


def test_no_transaction_up_that_changes_the_catalog_when_run_twice_stops(server_url: str, tmp_path: Path) -> None:
    up = "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY ON public.items (title);\n"
    report = verify.verify(
        server_url, with_change(tmp_path, up, "DROP INDEX public.items_title_idx;\n"), idempotent=True
    )
    problem = report.problems[-1]
    assert (problem.kind, problem.name) == ("not-idempotent", CHANGE)
    assert "verify stopped here" in problem.message and report.checked == ()


def test_seed_down_that_leaves_its_rows(server_url: str, tmp_path: Path) -> None:
    directory = with_change(tmp_path, "CREATE INDEX i ON public.items (title);\n", "DROP INDEX public.i;\n")
    migrations(
        directory, {"20240103_000000_rows": ("INSERT INTO public.items VALUES (1, 'a');\n", "SELECT 1;\n")}, "seed"
    )
    assert verify.verify(server_url, directory).ok  # without seeds, the seed track is not run
    report = verify.verify(server_url, directory, seeds=True)
    assert [(p.kind, p.track) for p in report.problems] == [("down-differs", "seed")]
    assert report.problems[0].diff == ("~ table public.items rows before: 0 after: 1",)
    assert report.checked == (BASE, CHANGE, "20240103_000000_rows")


def test_other_history_table_is_excluded(server_url: str, tmp_path: Path) -> None:
    directory = with_change(tmp_path, "CREATE INDEX i ON public.items (title);\n", "DROP INDEX public.i;\n")
    assert verify.verify(server_url, directory, history_table="meta.history").ok


def test_configured_role_owns_what_the_migrations_create(
    server_url: str, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = "sqlmig_verify_owner"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(owner)))
    (tmp_path / "pyproject.toml").write_text(f'[tool.sqlmig]\nrole = "{owner}"\n')
    monkeypatch.chdir(tmp_path)
    directory = migrations(tmp_path / "m", {BASE: ("CREATE TABLE public.t (id int);\n", "SELECT 1;\n")})
    report = verify.verify(server_url, directory)
    assert report.problems[0].diff[0].startswith(f"+ table public.t owner {owner} (")


def test_project_migrations_verify(server_url: str) -> None:
    report = verify.verify(server_url, REPO / "migrations", vars={"product": "the sqlmig example shop"}, seeds=True)
    assert report.ok, verify_text(report)
    assert len(report.checked) == 7 and report.checked[0] == "00000000_000000_create_schemas"


def test_role_without_createdb(pg_server: PgServer, tmp_path: Path) -> None:
    login = password_login(pg_server)
    with pytest.raises(DatabaseError, match="CREATEDB") as info:
        verify.verify(login.url("postgres"), with_change(tmp_path, "SELECT 1;\n", "SELECT 1;\n"))
    assert login.password not in str(info.value)


def test_report_text_and_dict(server_url: str, tmp_path: Path) -> None:
    report = verify.verify(
        server_url, with_change(tmp_path, "ALTER TABLE public.items ADD COLUMN n int;\n", "SELECT 1;\n")
    )
    path = tmp_path / f"migrate/{CHANGE}.down.sql"
    also = 'line 1: column "n" of relation "items" already exists (SQLSTATE 42701)'
    assert verify_text(report).splitlines() == [
        f"down-differs: migrate {CHANGE}: its down does not restore the catalog as it was before its up;"
        f" its up then fails when run again: {also}",
        f"  file: {path}",
        "  + table public.items column n integer",
        "  ~ table public.items column order before: id, title after: id, title, n",
        "(+ there but not expected, - expected but missing, ~ changed)",
        "FAILED: 2 migration(s) checked, 1 problem(s)",
    ]
    data = json.loads(json.dumps(verify_dict(report)))
    assert data["ok"] is False and data["checked"] == [BASE, CHANGE]
    assert data["problems"][0]["path"] == str(path) and data["problems"][0]["kind"] == "down-differs"


def test_report_of_nothing() -> None:
    report = VerifyReport((), ())
    assert report.ok and verify_dict(report) == {"ok": True, "checked": [], "problems": []}


def test_snapshot_describes_objects(db: psycopg.Connection[tuple[object, ...]]) -> None:
    db.execute(BASE_UP)
    db.execute("CREATE TABLE public.migration_history (id serial PRIMARY KEY)")
    snap = catalog.snapshot(db, ["public.migration_history"], rows=True)
    assert snap["table public.items column title"] == "text not null"
    assert snap["table public.items column order"] == "id, title"
    assert snap["table public.items rows"] == "0"
    assert not any("migration_history" in key for key in snap)
    assert list(snap) == sorted(snap)
    assert db.execute("SHOW search_path").fetchone() == ('"$user", public',)


DIFFS = [
    ({}, {}, []),
    ({"a": "1"}, {"a": "1"}, []),
    ({}, {"schema s": "owner o"}, ["+ schema s owner o"]),
    ({"schema s": "owner o"}, {}, ["- schema s owner o"]),
    ({"k": "1"}, {"k": "2"}, ["~ k before: 1 after: 2"]),
    ({"rows": ""}, {}, ["- rows"]),
    (
        {"table t": "x"},
        {"table t": "x", "table t column a": "int", "table t column b": "text", "table t2": "y"},
        ["+ table t column a int", "+ table t column b text", "+ table t2 y"],
    ),
    (
        {},
        {"table t": "x", "table t column a": "int", "table t column order": "a", "table t2": "y"},
        ["+ table t x (2 more under it)", "+ table t2 y"],
    ),
    (
        {"table t": "x", "table t column a": "int"},
        {"table t": "z"},
        ["~ table t before: x after: z", "- table t column a int"],
    ),
]


@pytest.mark.parametrize(("before", "after", "expected"), DIFFS)
def test_diff(before: dict[str, str], after: dict[str, str], expected: list[str]) -> None:
    assert catalog.diff(before, after) == expected
