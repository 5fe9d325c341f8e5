"""Preview (render, up/down --dry-run), one JSON document for every command (errors included), and up --lint."""

from __future__ import annotations

import json
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main

from .helpers import history, relations, tree
from .pgcluster import PgServer

FILES = {
    "migrate/20240101_000000_create_a.up.sql": "CREATE TABLE IF NOT EXISTS public.a (id int);\n",
    "migrate/20240101_000000_create_a.down.sql": "DROP TABLE IF EXISTS public.a;\n",
    "migrate/20240102_000000_create_b.up.sql": "-- the tenant's table\n"
    "CREATE TABLE IF NOT EXISTS {{ schema }}.b (n int);\n",
    "migrate/20240102_000000_create_b.down.sql": "DROP TABLE IF EXISTS {{ schema }}.b;\n",
    "seed/20240101_000001_rows.up.sql": "INSERT INTO public.a VALUES (1) ON CONFLICT DO NOTHING;\n",
    "seed/20240101_000001_rows.down.sql": "DELETE FROM public.a;\n",
}
Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path / "migrations", FILES)
    return tmp_path


CONVENTIONS = '[tool.sqlmig]\nlint_rules = ["safety", "conventions"]\n'


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def doc(result: click.testing.Result) -> dict[str, object]:
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_render_prints_the_rendered_file(project: Path) -> None:
    result = run("render", "migrations/migrate/20240102_000000_create_b.up.sql", "--schema", "tenant_1")
    assert result.exit_code == 0
    assert result.stdout == "-- the tenant's table\nCREATE TABLE IF NOT EXISTS tenant_1.b (n int);\n"
    as_json = doc(run("render", "--json", "--schema", "s", "migrations/migrate/20240102_000000_create_b.up.sql"))
    assert as_json["command"] == "render" and as_json["ok"] is True and as_json["exit_code"] == 0
    assert as_json["sql"] == "-- the tenant's table\nCREATE TABLE IF NOT EXISTS s.b (n int);\n"
    assert as_json["path"] == "migrations/migrate/20240102_000000_create_b.up.sql"


def test_render_errors_name_the_file_and_line(project: Path) -> None:
    result = run("render", "migrations/migrate/20240102_000000_create_b.up.sql")
    assert result.exit_code == 4
    assert "20240102_000000_create_b.up.sql:2" in result.stderr and "--schema" in result.stderr
    as_json = doc(run("render", "--json", "migrations/migrate/20240102_000000_create_b.up.sql"))
    error = as_json["error"]
    assert as_json["ok"] is False and as_json["exit_code"] == 4 and isinstance(error, dict)
    assert error["type"] == "RenderError" and error["line"] == 2 and error["path"].endswith("create_b.up.sql")
    notes = project / "migrations" / "migrate" / "notes.sql"
    notes.write_text("SELECT 1;\n")  # not named like a migration: rendered as any other SQL file
    assert (run("render", str(notes)).exit_code, run("render", str(notes)).output) == (0, "SELECT 1;\n")
    notes.write_text("-- sqlmig: no-such-directive\nSELECT 1;\n")  # but refused as discovery would refuse it
    assert run("render", str(notes)).exit_code == 4


def test_dry_run_prints_in_order_and_changes_nothing(project: Path, db_url: str, db: Conn) -> None:
    result = run("migrate", "up", "--dry-run", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("-- would apply 20240101_000000_create_a") < out.index("-- would apply 20240102_000000_create_b")
    assert "CREATE TABLE IF NOT EXISTS public.b (n int);" in out
    assert out.rstrip().endswith("2 migrate migration(s) would apply; nothing was changed.")
    # Nothing ran, not even the history table's creation.
    assert "migration_history" not in relations(db) and "a" not in relations(db)
    as_json = doc(run("migrate", "up", "--dry-run", "--json", "--database-url", db_url, "--schema", "public"))
    steps = as_json["steps"]
    assert as_json["command"] == "migrate up" and as_json["dry_run"] is True and isinstance(steps, list)
    assert [s["name"] for s in steps] == ["20240101_000000_create_a", "20240102_000000_create_b"]
    assert steps[1]["sql"].endswith("CREATE TABLE IF NOT EXISTS public.b (n int);\n")


def test_dry_run_takes_no_lock(project: Path, db_url: str, db: Conn) -> None:
    sqlmig.apply(db_url, project / "migrations", schema="public")
    with psycopg.connect(db_url, autocommit=True) as holder:
        from sqlmig.model import TableName
        from sqlmig.run.lock import lock_key

        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(TableName.parse("public.migration_history")),))
        down = run("migrate", "down", "--dry-run", "--steps", "2", "--database-url", db_url, "--schema", "public")
    assert down.exit_code == 0, down.stderr
    assert down.stdout.index("20240102_000000_create_b") < down.stdout.index("20240101_000000_create_a")
    assert "DROP TABLE IF EXISTS public.b;" in down.stdout and "would roll back" in down.stdout
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_create_b"]
    seeds = doc(run("seed", "up", "--dry-run", "--json", "--database-url", db_url))
    assert [s["name"] for s in seeds["steps"]] == ["20240101_000001_rows"]  # type: ignore[union-attr]
    nothing = run("migrate", "up", "--dry-run", "--database-url", db_url, "--schema", "public")
    assert nothing.stdout.strip() == "-- dry run: 0 migrate migration(s) would apply; nothing was changed."


def test_json_documents_share_one_envelope(project: Path, db_url: str) -> None:
    common = ("--database-url", db_url, "--schema", "public", "--json")
    up = doc(run("migrate", "up", *common))
    assert {k: up[k] for k in ("command", "ok", "exit_code", "format")} == {
        "command": "migrate up",
        "ok": True,
        "exit_code": 0,
        "format": 1,
    }
    assert [r["name"] for r in up["results"]] == ["20240101_000000_create_a", "20240102_000000_create_b"]  # type: ignore[union-attr]
    result = run("status", "--database-url", db_url, "--json", "--exit-code")
    status = doc(result)
    assert result.exit_code == 3 and status["exit_code"] == 3 and status["ok"] is False and status["pending"] == 1
    assert doc(run("seed", "status", "--database-url", db_url, "--json"))["command"] == "seed status"
    down = doc(run("migrate", "down", *common))
    assert down["command"] == "migrate down" and down["direction"] == "down"


def test_json_of_a_history_ahead_of_the_files(project: Path, db_url: str) -> None:
    common = ("--database-url", db_url, "--schema", "public", "--json")
    assert run("migrate", "up", *common).exit_code == 0
    for kind in ("up", "down"):  # an older release: the newest file is not there yet
        (project / f"migrations/migrate/20240102_000000_create_b.{kind}.sql").unlink()
    result = run("migrate", "up", *common)
    up = doc(result)
    assert result.exit_code == 0 and up["ok"] is True
    assert up["results"] == [] and up["ahead"] == ["20240102_000000_create_b"]
    assert "20240102_000000_create_b (migrate)" in result.stderr  # the warning, for people

    status = doc(run("migrate", "status", "--database-url", db_url, "--json", "--exit-code"))
    assert status["exit_code"] == 0 and (status["pending"], status["problems"], status["future"]) == (0, 0, 1)
    migrations = status["migrations"]
    assert isinstance(migrations, list)
    assert [(m["name"], m["state"]) for m in migrations] == [
        ("20240101_000000_create_a", "applied"),
        ("20240102_000000_create_b", "future"),
    ]
    assert migrations[1]["version"] == "20240102_000000" and migrations[1]["executed_at"] is not None

    result = run("migrate", "down", *common)
    down = doc(result)
    error = down["error"]
    assert result.exit_code == 4 and isinstance(error, dict)
    assert error["type"] == "MissingFileError" and error["names"] == ["20240102_000000_create_b"]


def test_json_error_document_points_into_the_file(project: Path, db_url: str) -> None:
    (project / "migrations/migrate/20240103_000000_broken.up.sql").write_text("SELECT 1;\nSELECT nope FROM public.a;\n")
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public", "--json")
    assert result.exit_code == 1
    body = doc(result)
    error = body["error"]
    assert body["ok"] is False and body["exit_code"] == 1 and isinstance(error, dict)
    assert error["type"] == "MigrationError" and error["line"] == 2 and error["sqlstate"] == "42703"
    assert error["applied"] == ["20240101_000000_create_a", "20240102_000000_create_b"]
    assert error["path"].endswith("20240103_000000_broken.up.sql")
    assert "error:" in result.stderr  # the message still goes to stderr for people


def test_json_error_hides_the_password(project: Path) -> None:
    result = run("status", "--json", "--database-url", "postgresql://app:s3cret-pw@127.0.0.1:1/x")
    assert result.exit_code == 5
    assert "s3cret-pw" not in result.stdout and "s3cret-pw" not in result.stderr
    assert doc(result)["error"]["type"] == "ConnectError"  # type: ignore[index]


def test_up_lint_refuses_files_with_errors_before_anything_runs(project: Path, db_url: str, db: Conn) -> None:
    (project / "pyproject.toml").write_text(CONVENTIONS)  # SQM101 is a convention, on when chosen
    (project / "migrations/migrate/20240103_000000_unqualified.up.sql").write_text(
        "CREATE TABLE IF NOT EXISTS c (id int);\n"
    )
    result = run("migrate", "up", "--lint", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 4
    assert "20240103_000000_unqualified.up.sql:1" in result.stderr and "nothing was applied" in result.stderr
    assert "migration_history" not in relations(db)
    with pytest.raises(sqlmig.LintError) as caught:
        sqlmig.apply(db_url, project / "migrations", schema="public", lint=True)
    assert [f.line for f in caught.value.findings] == [1]
    # Without --lint the same files apply; a config switch turns it on for every run.
    (project / "pyproject.toml").write_text(CONVENTIONS + "lint = true\n")
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 4
    assert run("migrate", "up", "--no-lint", "--database-url", db_url, "--schema", "public").exit_code == 0
    assert "c" in relations(db)


def test_lint_command_exit_codes(project: Path) -> None:
    (project / "pyproject.toml").write_text(CONVENTIONS)  # SQM101 is a convention, on when chosen
    assert run("lint").exit_code == 4  # the template needs --schema
    clean = run("lint", "--schema", "public")
    assert clean.exit_code == 0, clean.stdout
    assert clean.stdout == "checked 6 files: no problems found\n"
    (project / "migrations/migrate/20240103_000000_unqualified.up.sql").write_text("CREATE TABLE c (id int);\n")
    found = run("lint", "--json", "--schema", "public")
    body = doc(found)
    assert found.exit_code == 4 and body["command"] == "lint" and body["ok"] is False
    assert {f["line"] for f in body["findings"]} == {1}  # type: ignore[union-attr]


def test_verify_command(project: Path, pg_server: PgServer) -> None:
    args = ("verify", "--database-url", pg_server.url(), "--schema", "public")
    good = run(*args)
    assert good.exit_code == 0, good.stdout + good.stderr
    (project / "migrations/migrate/20240102_000000_create_b.down.sql").write_text("SELECT 1;\n")
    bad = run(*args, "--json")
    body = doc(bad)
    assert bad.exit_code == 4 and body["command"] == "verify" and body["ok"] is False
    (problem,) = body["problems"]  # type: ignore[misc]
    assert problem["kind"] == "down-differs" and problem["name"] == "20240102_000000_create_b"
    assert problem["path"] == "migrations/migrate/20240102_000000_create_b.down.sql"
    assert any(line.startswith("+ table public.b") for line in problem["diff"])


def test_up_lint_leaves_streamed_files_to_sqlmig_lint(
    project: Path, db_url: str, db: Conn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlmig.render

    monkeypatch.setattr(sqlmig.render, "STREAM_THRESHOLD", 200)
    big = "-- a bulk load, streamed from disk\n" + "INSERT INTO c VALUES (1);\n" * 20
    (project / "migrations/migrate/20240103_000000_bulk.up.sql").write_text("CREATE TABLE c (id int);\n" + big)
    sqlmig.apply(db_url, project / "migrations", schema="public", lint=True)
    assert "c" in relations(db)
    assert "not linted before applying (larger than 4 MiB; run 'sqlmig lint'): 20240103_000000_bulk" in caplog.text
