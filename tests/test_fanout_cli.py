"""Fan-out from the command line and the API: the targets from --schemas, --schemas-from (with per-target
variables) and [tool.sqlmig.targets], --shard, status across targets, the JSON document and the exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import make_conninfo

import sqlmig
from sqlmig.cli.commands import main
from sqlmig.targets import shard_of

from .helpers import tree

pytestmark = pytest.mark.core
Conn = psycopg.Connection[tuple[object, ...]]

FILES = {
    "migrations/migrate/20240101_000000_items.up.sql": (
        "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n"
        "CREATE TABLE {{ schema | ident }}.items (plan text DEFAULT {{ plan | default('free') | literal }});\n"
    ),
    "migrations/migrate/20240102_000000_more.up.sql": "ALTER TABLE {{ schema | ident }}.items ADD COLUMN n int;\n",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path, dict(FILES))
    return tmp_path


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT target, name FROM public.migration_history_targets ORDER BY target, name").fetchall()


def default_plan(db: Conn, schema: str) -> object:
    query = (
        "SELECT column_default FROM information_schema.columns WHERE table_schema = %s AND table_name = 'items'"
        " AND column_name = 'plan'"
    )
    found = db.execute(query, (schema,)).fetchone()
    return found[0] if found else None


def test_up_with_schemas_then_status_and_json(project: Path, db: Conn) -> None:
    result = run("migrate", "up", "--schemas", "a,b", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("migrate on 2 target(s): 2 applied, 0 current, 0 failed, 0 skipped (")
    assert [t for t, _ in rows(db)] == ["a", "a", "b", "b"]
    status = run("migrate", "status", "--schemas", "a,b,c", "--exit-code")
    assert (status.exit_code, status.output) == (
        3,
        "migrate: 1 of 3 target(s) behind.\n  c: " + ("20240101_000000_items, 20240102_000000_more\n"),
    )
    again = run("migrate", "up", "--schemas", "a,b,c", "--json")
    document = json.loads(again.output)
    assert (document["ok"], document["summary"]) == (True, {"applied": 1, "current": 2, "failed": 0, "skipped": 0})
    assert document["targets"][2] == {
        "target": "c",
        "status": "applied",
        "applied": ["20240101_000000_items", "20240102_000000_more"],
        "duration_ms": document["targets"][2]["duration_ms"],
        "error": None,
    }


def test_schemas_from_gives_each_target_its_variables(project: Path, db: Conn) -> None:
    db.execute(
        "CREATE TABLE public.tenants (name text, plan text); INSERT INTO tenants VALUES ('t1', 'pro'), ('t2', 'free')"
    )
    result = run("migrate", "up", "--schemas-from", "SELECT name, plan FROM public.tenants ORDER BY name")
    assert result.exit_code == 0, result.output
    assert (default_plan(db, "t1"), default_plan(db, "t2")) == ("'pro'::text", "'free'::text")


def test_schemas_from_runs_read_only(project: Path, db: Conn) -> None:
    result = run("migrate", "up", "--schemas-from", "CREATE TABLE public.oops (x int) ; SELECT 'a'")
    assert result.exit_code == 5
    assert "read-only" in result.output
    assert db.execute("SELECT to_regclass('public.oops')").fetchone() == (None,)


def test_configured_targets_and_shards(project: Path, db: Conn) -> None:
    names = [f"tenant_{i}" for i in range(8)]
    pyproject = "[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas = [" + ", ".join(f'"{n}"' for n in names) + "]\n"
    (project / "pyproject.toml").write_text(pyproject)
    first = run("migrate", "up", "--shard", "1/2", "--json")
    assert first.exit_code == 0, first.output
    taken = [t["target"] for t in json.loads(first.output)["targets"]]
    assert taken == [n for n in names if shard_of(n, 2) == 1]
    assert run("migrate", "up", "--json", "--shard", "2/2").exit_code == 0
    assert sorted({t for t, _ in rows(db)}) == sorted(names)
    # Without --shard, every configured target: all are current now.
    again = json.loads(run("migrate", "up", "--json").output)
    assert again["summary"]["current"] == 8


def test_a_failed_target_sets_the_exit_code_and_is_listed(project: Path, db: Conn) -> None:
    db.execute("CREATE SCHEMA b; CREATE TABLE b.items (other int)")
    result = run("migrate", "up", "--schemas", "a,b,c")
    assert result.exit_code == 1, result.output
    assert "2 applied, 0 current, 1 failed, 0 skipped" in result.output
    failed = result.output.splitlines()[1]
    assert failed.startswith("  b: ") and failed.endswith(
        '20240101_000000_items.up.sql:2:1: relation "items" already exists (SQLSTATE 42P07)'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schemas", "a,,b"], "empty schema name"),
        (["--schemas", "a", "--schemas-from", "SELECT 'b'"], "not both"),
        (["--schemas", "a", "--dry-run"], "--dry-run is not available with a fan-out"),
        (["--shard", "3/2", "--schemas", "a"], "--shard"),
    ],
)
def test_refusals(project: Path, args: list[str], message: str) -> None:
    result = run("migrate", "up", *args)
    assert result.exit_code in (2, 5) and message in result.output, result.output


def test_apply_all(project: Path, db: Conn, db_url: str) -> None:
    report = sqlmig.apply_all(db_url, project / "migrations", schemas=["x", "y"], jobs=2)
    assert [(r.target, r.status) for r in report.results] == [("x", "applied"), ("y", "applied")]
    with pytest.raises(sqlmig.ConfigError, match="needs a URL"), psycopg.connect(db_url) as conn:
        sqlmig.apply_all(conn, project / "migrations", schemas="x")  # type: ignore[arg-type]


@pytest.fixture
def databases(db: Conn, db_url: str) -> Iterator[list[str]]:
    """Two more databases on the test's server, dropped afterwards."""
    current = db.execute("SELECT current_database()").fetchone()
    assert current is not None
    names = [f"{current[0]}_d{i}" for i in (1, 2)]
    for name in names:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield names
    finally:
        for name in names:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def history_of(db_url: str, name: str) -> list[tuple[object, ...]]:
    with psycopg.connect(make_conninfo(db_url, dbname=name)) as conn:
        return conn.execute("SELECT name FROM public.migration_history ORDER BY id").fetchall()


def test_databases_from_a_file_of_names_and_urls(project: Path, db_url: str, databases: list[str]) -> None:
    listing = project / "databases.txt"
    listing.write_text(f"# the fleet\n{databases[0]}\n\n{make_conninfo(db_url, dbname=databases[1])}\n")
    result = run("migrate", "up", "--databases-from", str(listing), "--schema", "app", "--json")
    document = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert document["summary"] == {"applied": 2, "current": 0, "failed": 0, "skipped": 0}
    assert document["targets"][0]["target"] == databases[0]
    names = [("20240101_000000_items",), ("20240102_000000_more",)]
    assert history_of(db_url, databases[0]) == history_of(db_url, databases[1]) == names
    status = run("migrate", "status", "--databases-from", str(listing), "--exit-code")
    assert (status.exit_code, status.output) == (0, "migrate: 0 of 2 target(s) behind.\n")


def test_databases_from_a_query(project: Path, db: Conn, db_url: str, databases: list[str]) -> None:
    query = f"SELECT datname FROM pg_database WHERE datname LIKE '{databases[0][:-1]}%' ORDER BY 1"
    result = run("migrate", "up", "--databases-from", query, "--schema", "app")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("migrate on 2 target(s): 2 applied,")


def test_the_json_document_names_the_command_however_the_program_is_run(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sqlmig", "migrate", "status", "--schemas", "a", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["command"] == "migrate status"
