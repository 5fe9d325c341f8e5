"""The CLI through click's CliRunner: exact output, exit codes, every command has help."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner

from sqlmig.cli.commands import main

from .helpers import history, tree

FILES = {
    "migrate/20240101_000000_create_a.up.sql": "CREATE TABLE public.a (id int);\n",
    "migrate/20240101_000000_create_a.down.sql": "DROP TABLE public.a;\n",
    "migrate/20240102_000000_create_b.up.sql": "CREATE TABLE {{ schema }}.b (id int);\n",
    "migrate/20240102_000000_create_b.down.sql": "DROP TABLE {{ schema }}.b;\n",
    "seed/20240101_000001_rows.up.sql": "INSERT INTO public.a VALUES (1);\n",
    "seed/20240101_000001_rows.down.sql": "DELETE FROM public.a;\n",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path / "migrations", FILES)
    return tmp_path


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += all_commands(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def command_at(path: tuple[str, ...]) -> click.Command:
    found: click.Command = main
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


@pytest.mark.parametrize("command", all_commands(main), ids=lambda c: " ".join(c) or "sqlmig")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(result.output.splitlines()) > 3
    help = command_at(command).help
    assert help and help.strip()


def summaries(group: tuple[str, ...], width: int) -> dict[str, str]:
    """The Commands section of ``group``'s --help at a terminal ``width`` columns wide: each command's summary,
    its wrapped lines joined, and with ``|`` where a line wrapped."""
    result = CliRunner().invoke(main, [*group, "--help"], terminal_width=width, catch_exceptions=False)
    assert result.exit_code == 0
    section = result.output.partition("\nCommands:\n")[2].partition("\n\n")[0]
    found: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        if line[2] != " ":  # "  name  summary"; a wrapped summary continues further right
            name, _, text = line.strip().partition(" ")
            found[name] = text.strip()
        else:
            found[name] += f"|{line.strip()}"
    return found


@pytest.mark.parametrize(
    "group",
    [c for c in all_commands(main) if isinstance(command_at(c), click.Group)],
    ids=lambda c: " ".join(c) or "sqlmig",
)
def test_every_summary_is_whole(group: tuple[str, ...]) -> None:
    """click cuts a command's summary to fit the terminal ("Print a migration file as sqlmig would run it, its
    template..."): every summary is a whole sentence, on one line of an 80-column terminal, and whole on the
    narrowest one too (wrapped)."""
    parent = command_at(group)
    assert isinstance(parent, click.Group)
    wide, narrow = summaries(group, 80), summaries(group, 50)
    assert sorted(wide) == sorted(narrow) == sorted(parent.commands)
    for name, text in wide.items():
        assert "|" not in text and text.endswith(".") and not text.endswith("..."), (name, text)
        assert narrow[name].replace("|", " ") == text, name
        assert text == parent.commands[name].get_short_help_str(), name
        assert (parent.commands[name].help or "").startswith(text), name  # its first sentence, not another text


def test_up_status_down_cycle(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("applied 20240101_000000_create_a (")
    assert lines[1].startswith("applied 20240102_000000_create_b (")
    assert lines[2] == "Applied 2 migrate migration(s)."
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_create_b"]

    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert (result.exit_code, result.output) == (0, "Nothing to do: migrate is up to date.\n")

    result = run("status", "--database-url", db_url)
    assert result.exit_code == 0
    assert "  applied  20240102_000000_create_b" in result.output
    assert "  pending  20240101_000001_rows" in result.output
    assert result.output.splitlines()[-1] == "1 pending, 0 need attention."

    result = run("migrate", "down", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "Rolled back 1 migrate migration(s)."
    assert history(db) == ["20240101_000000_create_a"]


def test_up_to_a_version(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    common = ("--database-url", db_url, "--schema", "public")
    preview = run("migrate", "up", *common, "--to", "20240101_000000", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "20240101_000000_create_a" in preview.output and "20240102_000000_create_b" not in preview.output
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)
    result = run("migrate", "up", *common, "--to", "20240101_000000")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Applied 1 migrate migration(s)."
    assert history(db) == ["20240101_000000_create_a"]
    result = run("migrate", "up", *common, "--to", "20991231_000000")
    assert (result.exit_code, history(db)) == (4, ["20240101_000000_create_a"])
    assert "no migrate migration file has version 20991231_000000" in result.output


def test_group_level_options(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    (project / "migrations").rename(project / "db")
    result = run("--database-url", db_url, "--dir", "db", "--schema", "public", "migrate", "up")
    assert result.exit_code == 0, result.output
    assert len(history(db)) == 2


def test_var_option(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    tree(project / "vars", {"migrate/20240101_000000_v.up.sql": "CREATE TABLE public.{{ t }} (id int);\n"})
    result = run("migrate", "up", "--database-url", db_url, "--dir", "vars", "--var", "t=from_var")
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT to_regclass('public.from_var')").fetchone() != (None,)
    result = run("migrate", "up", "--database-url", db_url, "--dir", "vars", "--var", "no-equals-sign")
    assert result.exit_code == 5 and "NAME=VALUE" in result.output


def test_status_json_and_exit_code(db_url: str, project: Path) -> None:
    result = run("status", "--database-url", db_url, "--json", "--exit-code")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["pending"] == 3 and data["problems"] == 0
    assert data["migrations"][0] == {
        "track": "migrate",
        "version": "20240101_000000",
        "name": "20240101_000000_create_a",
        "state": "pending",
        "executed_at": None,
        "stopped_at": None,
        "stopped_line": None,
    }
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    assert run("seed", "up", "--database-url", db_url).exit_code == 0
    assert run("status", "--database-url", db_url, "--exit-code").exit_code == 0
    result = run("migrate", "status", "--database-url", db_url, "--json")
    assert [m["state"] for m in json.loads(result.stdout)["migrations"]] == ["applied", "applied"]


def test_up_json(db_url: str, project: Path) -> None:
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [r["name"] for r in data["results"]] == ["20240101_000000_create_a", "20240102_000000_create_b"]
    assert data["direction"] == "up" and data["track"] == "migrate"


def test_seed_before_migrations_exit_code(db_url: str, project: Path) -> None:
    result = run("seed", "up", "--database-url", db_url)
    assert result.exit_code == 4
    assert "error: 2 migration(s) are pending" in result.output


def test_sql_error_exit_code_and_message(db_url: str, project: Path) -> None:
    tree(project / "migrations", {"migrate/20240103_000000_bad.up.sql": "SELECT 1;\nSELECT * FROM public.nope;\n"})
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 1
    assert '20240103_000000_bad.up.sql:2:15: relation "public.nope" does not exist (SQLSTATE 42P01)' in result.output
    assert "applied before the failure in this run: 20240101_000000_create_a, 20240102_000000_create_b" in result.output


def test_drift_and_accept(db_url: str, project: Path) -> None:
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    (project / "migrations/migrate/20240101_000000_create_a.up.sql").write_text("CREATE TABLE public.a (id bigint);\n")
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 4 and "sqlmig migrate accept 20240101_000000_create_a" in result.output
    result = run("migrate", "accept", "--database-url", db_url)
    assert (result.exit_code, result.output) == (0, "Accepted 1 file(s): 20240101_000000_create_a\n")
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0


def test_down_steps_to_all_are_exclusive(db_url: str, project: Path) -> None:
    result = CliRunner().invoke(main, ["migrate", "down", "--database-url", db_url, "--steps", "1", "--all"])
    assert result.exit_code == 2 and "only one of" in result.output


def test_down_all(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    result = run("migrate", "down", "--all", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "Rolled back 2 migrate migration(s)."
    assert history(db) == []


def test_connection_error_hides_password(project: Path) -> None:
    url = "postgresql://app:hunter2-secret@127.0.0.1:1/app?connect_timeout=2"
    result = run("migrate", "up", "--database-url", url)
    assert result.exit_code == 5
    assert "hunter2-secret" not in result.output and "app:***@127.0.0.1:1" in result.output


def test_password_from_dotenv_never_printed(project: Path) -> None:
    (project / ".env").write_text("DATABASE_URL='postgresql://app:dotenv-pw-42@127.0.0.1:1/app?connect_timeout=2'\n")
    result = run("status")
    assert result.exit_code == 5 and "dotenv-pw-42" not in result.output
    assert "app:***@127.0.0.1:1/app" in result.output and "(from DATABASE_URL (.env))" in result.output


def test_new_writes_both_files(project: Path) -> None:
    result = run("new", "--type", "migrate", "--name", "Create Users", "--schema", "auth")
    assert result.exit_code == 0
    created = sorted(p.name for p in (project / "migrations/migrate").glob("*_create_users.*.sql"))
    assert len(created) == 2 and created[0].endswith("_create_users.down.sql")
    up = next((project / "migrations/migrate").glob("*_create_users.up.sql")).read_text()
    assert "CREATE TABLE IF NOT EXISTS auth.users" in up
    assert result.output.splitlines()[0].startswith("Created migrations/migrate/")
    assert result.output.count("Created ") == 2


def test_new_bad_name(project: Path) -> None:
    result = run("new", "--type", "seed", "--name", "!!!")
    assert result.exit_code == 5 and "--name" in result.output


MISSING_FOLDER = (
    "migrations folder not found: pass the folder that holds migrate/ and seed/ with --dir or as directory in "
    "[tool.sqlmig], or create this one"
)


def test_missing_directory(db_url: str, project: Path) -> None:
    result = run("migrate", "up", "--database-url", db_url, "--dir", "nowhere")
    expected = f"error: 1 problem(s) with migration files:\n  {project / 'nowhere'}: {MISSING_FOLDER}\n"
    assert (result.exit_code, result.output) == (4, expected)
    (project / "migrations").rename(project / "elsewhere")
    result = run("status", "--database-url", db_url, "--json")
    assert result.exit_code == 4
    problems = json.loads(result.stdout)["error"]["problems"]
    assert problems == [{"path": str(project / "migrations"), "line": 0, "message": MISSING_FOLDER}]
    result = run("lint", "--dir", "nowhere")
    assert (result.exit_code, result.output.splitlines()[0]) == (4, f"nowhere:1:1: SQM005 error: {MISSING_FOLDER}")


def test_render_any_sql_file(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.sqlmig]\nvars = { since = "2024-01-01" }\n')
    tree(project / "queries", {"report.sql": "SELECT count(*) FROM {{ schema }}.a WHERE d >= {{ since | literal }};\n"})
    result = run("render", "queries/report.sql", "--schema", "app")
    assert (result.exit_code, result.output) == (0, "SELECT count(*) FROM app.a WHERE d >= '2024-01-01';\n")
    result = run("render", "--json", "queries/report.sql", "--schema", "app", "--var", "since=2025-06-30")
    assert result.exit_code == 0
    assert json.loads(result.output) == {
        "format": 1,
        "command": "render",
        "ok": True,
        "exit_code": 0,
        "path": "queries/report.sql",
        "sql": "SELECT count(*) FROM app.a WHERE d >= '2025-06-30';\n",
    }
    result = run("render", "queries/report.sql")
    assert result.exit_code == 4 and result.output.startswith("error: queries/report.sql:1: template error: ")


def test_render_a_migration_file(project: Path) -> None:
    result = run("render", "migrations/migrate/20240102_000000_create_b.up.sql", "--schema", "app")
    assert (result.exit_code, result.output) == (0, "CREATE TABLE app.b (id int);\n")
    result = run("render", "migrations/migrate/20240102_000000_create_b.down.sql", "--schema", "app")
    assert (result.exit_code, result.output) == (0, "DROP TABLE app.b;\n")


def test_render_a_missing_file_names_it(project: Path) -> None:
    result = run("render", "queries/missing.sql")
    assert result.exit_code == 2
    assert (
        result.output.splitlines()[-1] == "Error: Invalid value for 'FILE': File 'queries/missing.sql' does not exist."
    )


def test_seed_verbs(db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path) -> None:
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    result = run("seed", "up", "--database-url", db_url)
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "Applied 1 seed migration(s)."
    result = run("seed", "status", "--database-url", db_url)
    lines = result.output.splitlines()
    assert lines[0] == "seed:" and lines[1].startswith("  applied  20240101_000001_rows  20")
    assert lines[-1] == "0 pending, 0 need attention."
    (project / "migrations/seed/20240101_000001_rows.up.sql").write_text("INSERT INTO public.a VALUES (2);\n")
    assert run("seed", "up", "--database-url", db_url).exit_code == 4
    assert run("seed", "accept", "--database-url", db_url).output == "Accepted 1 file(s): 20240101_000001_rows\n"
    result = run("seed", "down", "--database-url", db_url)
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "Rolled back 1 seed migration(s)."
    assert db.execute("SELECT count(*) FROM public.a").fetchone() == (0,)
    assert history(db, "seed") == []


AHEAD_WARNING = (
    "the history is ahead of the files: 1 applied migration(s) have no file here and are newer than every file of "
    "their track, applied by a newer release: 20240102_000000_create_b (migrate). This is expected while a deploy or "
    "rollback of the application is in progress; this release leaves them as they are and applies only its own "
    "pending files. If this release is meant to stay, roll them back with the newer release."
)


def test_an_older_release_beside_a_newer_history(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], project: Path
) -> None:
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    newest = project / "migrations/migrate/20240102_000000_create_b"
    kept = {kind: Path(f"{newest}.{kind}.sql").read_text() for kind in ("up", "down")}
    for kind in kept:  # the release before it: same files, without the newest
        Path(f"{newest}.{kind}.sql").unlink()

    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert (result.exit_code, result.output) == (0, f"{AHEAD_WARNING}\nNothing to do: migrate is up to date.\n")

    result = run("migrate", "status", "--database-url", db_url, "--exit-code")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "migrate:" and lines[1].startswith("  applied  20240101_000000_create_a  20")
    assert lines[2].startswith("  future   20240102_000000_create_b  20")
    assert lines[2].endswith("  applied by a newer release (no file here; up leaves it, down stops at it)")
    assert lines[3:] == ["0 pending, 0 need attention, 1 applied by a newer release."]

    result = run("seed", "up", "--database-url", db_url)  # the schema is up to date for this release's seeds
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == AHEAD_WARNING
    assert result.output.splitlines()[-1] == "Applied 1 seed migration(s)."

    result = run("migrate", "down", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 4
    assert result.output == (
        "error: cannot roll back: 1 applied migrate migration(s) are newer than every file here, applied by a newer "
        "release: 20240102_000000_create_b. Rolling back an older migration underneath them could break them, so "
        "nothing was rolled back. Roll them back with the newer release first ('sqlmig migrate down' from it), then "
        "run this one.\n"
    )
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_create_b"]

    for kind, text in kept.items():  # the newer release again: its down works as before
        Path(f"{newest}.{kind}.sql").write_text(text)
    result = run("migrate", "down", "--database-url", db_url, "--schema", "public")
    assert (result.exit_code, result.output.splitlines()[-1]) == (0, "Rolled back 1 migrate migration(s).")
    assert history(db) == ["20240101_000000_create_a"]


def test_a_row_between_known_files_is_still_an_error(db_url: str, project: Path) -> None:
    assert run("migrate", "up", "--database-url", db_url, "--schema", "public").exit_code == 0
    (project / "migrations/migrate/20240101_000000_create_a.up.sql").unlink()
    (project / "migrations/migrate/20240101_000000_create_a.down.sql").unlink()
    result = run("migrate", "up", "--database-url", db_url, "--schema", "public")
    assert result.exit_code == 4
    assert result.output.startswith(
        "error: 1 applied migrate migration(s) have no file in the migrate folder: 20240101_000000_create_a. "
        "They are not newer than its newest file (20240102_000000)"
    )
    result = run("migrate", "status", "--database-url", db_url)
    assert "  missing  20240101_000000_create_a" in result.output
    assert result.output.splitlines()[-1] == "0 pending, 1 need attention."


@pytest.fixture
def embedded(project: Path) -> Iterator[Path]:
    """A project with no database URL anywhere; the embedded server it starts is stopped afterwards."""
    from sqlmig import devdb

    try:
        yield project
    finally:
        devdb.stop(project / ".sqlmig")


def test_embedded_default_and_dev_commands(embedded: Path) -> None:
    assert run("dev", "status").output == "Not running.\n"
    result = run("migrate", "up", "--schema", "public")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Using the embedded PostgreSQL 18.") and str(embedded / ".sqlmig") in first
    assert "(started;" in first
    assert result.output.splitlines()[-1] == "Applied 2 migrate migration(s)."
    result = run("status", "--json")
    assert json.loads(result.stdout)["pending"] == 1  # the notice goes to stderr, so stdout stays JSON
    url = run("dev", "url").output.strip()
    assert url.startswith("postgresql://")
    with psycopg.connect(url) as conn:
        assert history(conn) == ["20240101_000000_create_a", "20240102_000000_create_b"]
    started = run("dev", "start")
    assert started.output.startswith("Already running: PostgreSQL 18.") and url in started.output
    assert run("dev", "status").output.startswith("Running: PostgreSQL 18.")
    assert run("dev", "stop").output == "Stopped.\n"
    assert run("dev", "stop").output == "Not running.\n"
    result = run("dev", "url")
    assert result.exit_code == 5 and "sqlmig dev start" in result.output


def test_main_help_lists_exit_codes() -> None:
    out = run("--help").output
    for code in ("0 success", "1 a migration's SQL failed", "3 status --exit-code", "6 the migration lock"):
        assert code in out
