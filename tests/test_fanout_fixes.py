"""Fan-out edge cases: a ``--to`` no file has, a target query that finds nothing, the plugin's TenantsFailed in the one
error tree, and where ``status --databases-from`` says its databases came from."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

import sqlmig
from sqlmig import config, errors
from sqlmig.cli import exits
from sqlmig.cli.commands import main

from .helpers import tree

pytestmark = pytest.mark.newest

Conn = psycopg.Connection[tuple[object, ...]]

SCHEMA = "migrate/20240101_000000_schema.up.sql"
ITEMS = "migrate/20240102_000000_items.up.sql"
FILES = {
    SCHEMA: "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n",
    ITEMS: (
        "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY);\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items');\n"
    ),
}
UNKNOWN = "20990101_000000"
TOO_MANY = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  too many connections'


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def table_exists(db: Conn, name: str) -> bool:
    found = db.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(found and found[0])


def settings(db_url: str, directory: Path) -> config.Settings:
    return config.load(database_url=db_url, directory=directory, cwd=directory, environ={})


@pytest.fixture
def project(db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """A project in the working directory (migrations/ under it) whose DATABASE_URL is the test's database."""
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    db.execute("CREATE TABLE public.log (schema text, what text)")
    tree(tmp_path / "migrations", dict(FILES))
    return tmp_path


@pytest.fixture
def sqlmig_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """sqlmig's log records, whether or not an earlier command line stopped them reaching the root logger."""
    monkeypatch.setattr(logging.getLogger("sqlmig"), "propagate", True)
    return caplog


@pytest.fixture
def limited_role(db: Conn) -> Iterator[str]:
    """A login role that owns the test's database and may hold two connections at a time."""
    role = f"sqlmig_fixes_{uuid.uuid4().hex[:12]}"
    name = db.execute("SELECT current_database()").fetchone()
    assert name is not None
    db.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 2").format(sql.Identifier(role)))
    try:
        db.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(str(name[0])), sql.Identifier(role)))
        db.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        yield role
    finally:
        db.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# 2. --to a version no file has.


@pytest.mark.timeout(60)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_up_to_an_unknown_version_is_refused_once_as_an_ordinary_up_refuses_it(
    project: Path, db: Conn, as_json: bool
) -> None:
    json_flag = ["--json"] if as_json else []
    ordinary = run("migrate", "up", "--to", UNKNOWN, *json_flag)
    fanned = run("migrate", "up", "--schemas", "a,b,c", "--to", UNKNOWN, *json_flag)
    assert ordinary.exit_code == exits.EXIT_INVALID
    assert (fanned.exit_code, fanned.output) == (ordinary.exit_code, ordinary.output)
    assert not table_exists(db, "public.migration_history_targets")


@pytest.mark.timeout(60)
def test_up_to_an_unknown_version_over_databases_is_refused_before_any_database(
    project: Path, db: Conn, db_url: str
) -> None:
    (project / "dbs.txt").write_text(f"{db_url}\n")
    result = run("migrate", "up", "--databases-from", "dbs.txt", "--to", UNKNOWN)
    assert result.exit_code == exits.EXIT_INVALID
    assert result.output == run("migrate", "up", "--to", UNKNOWN).output
    assert not table_exists(db, "public.migration_history")


@pytest.mark.timeout(60)
def test_apply_all_to_an_unknown_version_raises_the_plan_error(project: Path, db: Conn) -> None:
    with pytest.raises(errors.PlanError, match=f"no migrate migration file has version {UNKNOWN}"):
        sqlmig.apply_all(directory=project / "migrations", schemas=["a", "b"], to=UNKNOWN)
    assert not table_exists(db, "public.migration_history_targets")


# 3. A target query that returns no rows.

NO_ROWS = "SELECT nspname FROM pg_catalog.pg_namespace WHERE false"


@pytest.mark.timeout(60)
def test_a_schemas_from_query_with_no_rows_says_so_and_writes_nothing(project: Path, db: Conn) -> None:
    result = run("migrate", "up", "--schemas-from", NO_ROWS)
    assert (result.exit_code, result.output) == (0, "migrate: no targets, nothing to do.\n")
    as_json = run("migrate", "up", "--schemas-from", NO_ROWS, "--json")
    body = json.loads(as_json.output)
    assert (as_json.exit_code, body["ok"], body["targets"]) == (0, True, [])
    assert not table_exists(db, "public.migration_history_targets")
    assert not table_exists(db, "public.migration_history")


@pytest.mark.timeout(60)
def test_configured_schemas_from_with_no_rows_writes_nothing(project: Path, db: Conn) -> None:
    (project / "pyproject.toml").write_text(f'[tool.sqlmig.targets]\nschemas_from = "{NO_ROWS}"\n')
    result = run("migrate", "up")
    assert (result.exit_code, result.output) == (0, "migrate: no targets, nothing to do.\n")
    report = sqlmig.apply_all(directory=project / "migrations", schemas_from=NO_ROWS)
    assert report.results == () and report.ok
    assert not table_exists(db, "public.migration_history_targets")


# 4. TenantsFailed in the one error tree.


@pytest.mark.timeout(60)
def test_tenants_failed_is_one_of_sqlmigs_errors() -> None:
    from sqlmig.errors import TenantsFailed
    from sqlmig.testing import tenants

    assert issubclass(TenantsFailed, errors.SqlmigError)
    assert tenants.TenantsFailed is TenantsFailed
    assert exits.exit_code(TenantsFailed("migrate", ["a"], [])) == exits.EXIT_MIGRATION_FAILED


@pytest.mark.timeout(60)
def test_a_template_failing_in_one_schema_raises_tenants_failed(db_url: str, db: Conn, tmp_path: Path) -> None:
    from sqlmig.errors import TenantsFailed
    from sqlmig.testing.tenants import fan_out

    db.execute("CREATE TABLE public.log (schema text, what text); CREATE SCHEMA b; CREATE TABLE b.items (c int)")
    tree(tmp_path, dict(FILES))
    with pytest.raises(TenantsFailed) as caught:
        fan_out(settings(db_url, tmp_path), db_url, ["a", "b"], ("migrate",))
    assert [r.target for r in caught.value.failed] == ["b"]
    assert "the migrate track failed in 1 of the template's 2 schemas:\n  schema 'b': " in str(caught.value)


# 5. Where status --databases-from says its databases came from.


@pytest.mark.timeout(60)
def test_status_over_databases_names_where_a_database_came_from(project: Path) -> None:
    missing = f"sqlmig_missing_{uuid.uuid4().hex[:12]}"
    (project / "dbs.txt").write_text(f"{missing}\n")
    result = run("migrate", "status", "--databases-from", "dbs.txt")
    assert f'database "{missing}" does not exist' in result.output
    assert "(from --databases-from)" in result.output
    assert "DATABASE_URL" not in result.output
