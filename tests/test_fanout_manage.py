"""Rolling back, accepting and baselining fan-out targets: ``migrate down|accept|baseline`` with ``--schemas``,
``--schemas-from`` and ``--databases-from``, each target on its own history and lock; the drift advice a target
prints, run as printed; the refusal of a plain ``down`` when ``[tool.sqlmig.targets]`` is configured; and
``sqlmig.rollback_all()``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import uuid
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
from sqlmig.plan import history_options

from .fanout_helpers import cli_project, interrupted
from .helpers import tree

pytestmark = pytest.mark.newest

Conn = psycopg.Connection[tuple[object, ...]]

SCHEMA, ITEMS, NOTES = "20240101_000000_schema", "20240102_000000_items", "20240103_000000_notes"
FILES = {
    f"migrate/{SCHEMA}.up.sql": "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n",
    f"migrate/{SCHEMA}.down.sql": "DROP SCHEMA {{ schema | ident }};\n",
    f"migrate/{ITEMS}.up.sql": (
        "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY);\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items up');\n"
    ),
    f"migrate/{ITEMS}.down.sql": (
        "DROP TABLE {{ schema | ident }}.items;\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items down');\n"
    ),
    f"migrate/{NOTES}.up.sql": "CREATE TABLE {{ schema | ident }}.notes (body text);\n",
    f"migrate/{NOTES}.down.sql": "DROP TABLE {{ schema | ident }}.notes;\n",
}


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(db: Conn, target: str | None = None) -> list[str]:
    """The migrate names recorded for fan-out target ``target`` (the ordinary history for None), in id order."""
    if target is None:
        query = "SELECT name FROM public.migration_history WHERE type = 'migrate' ORDER BY id"
        return [str(r[0]) for r in db.execute(query)]
    query = "SELECT name FROM public.migration_history_targets WHERE target = %s AND type = 'migrate' ORDER BY id"
    return [str(r[0]) for r in db.execute(query, (target,))]


def tables(db: Conn, schema: str) -> set[str]:
    query = "SELECT tablename FROM pg_tables WHERE schemaname = %s"
    return {str(r[0]) for r in db.execute(query, (schema,))}


def advice(output: str) -> list[str]:
    """The command a drift error tells the user to run, as a shell would split it."""
    return shlex.split(output.split("record the new checksum with: ", 1)[1].splitlines()[0])


@pytest.fixture
def project(db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """A project in the working directory (migrations/ under it) whose DATABASE_URL is the test's database."""
    return cli_project(db, tmp_path, monkeypatch, db_url, FILES)


@pytest.fixture
def databases(db: Conn, db_url: str) -> Iterator[list[str]]:
    """Two other databases on the test's server, each with the public.log table the migrations write to."""
    names = [f"sqlmig_manage_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        for name in names:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(make_conninfo(db_url, dbname=name), autocommit=True) as other:
                other.execute("CREATE TABLE public.log (schema text, what text)")
        yield names
    finally:
        for name in names:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize(
    ("schema", "database", "options"),
    [
        (None, None, ""),
        ("tenant_a", None, " --schemas tenant_a"),
        ("Tenant-1", None, " --schemas Tenant-1"),
        ("o'brien", None, " --schemas 'o'\"'\"'brien'"),
        ("-dash", None, " --schemas -dash"),
        ("a,b", None, " --schemas-from 'SELECT '\"'\"'a,b'\"'\"''"),
        (" padded", None, " --schemas-from 'SELECT '\"'\"' padded'\"'\"''"),
        (None, "postgresql://app@db/t1", " --database-url postgresql://app@db/t1"),
        (None, "host=db dbname=t1", " --database-url 'host=db dbname=t1'"),
    ],
)
@pytest.mark.timeout(10)
def test_history_options(schema: str | None, database: str | None, options: str) -> None:
    assert history_options(schema=schema, database=database) == options


@pytest.mark.timeout(60)
def test_down_over_schemas_takes_each_target_back_one_migration(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a,b,c").exit_code == 0
    assert run("migrate", "up", "--schema", "plain").exit_code == 0  # the ordinary history, left alone
    result = run("migrate", "down", "--schemas", "a,b")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("migrate down on 2 target(s): 2 rolled back, 0 unchanged, 0 failed, 0 skipped (")
    assert lines[1:] == [f"  a: rolled back {NOTES}", f"  b: rolled back {NOTES}"]
    for target in ("a", "b"):
        assert rows(db, target) == [SCHEMA, ITEMS] and tables(db, target) == {"items"}
    assert rows(db, "c") == [SCHEMA, ITEMS, NOTES] and tables(db, "c") == {"items", "notes"}
    assert rows(db) == [SCHEMA, ITEMS, NOTES] and tables(db, "plain") == {"items", "notes"}


@pytest.mark.timeout(60)
def test_down_of_targets_at_different_versions(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    assert run("migrate", "up", "--schemas", "c", "--to", "20240102_000000").exit_code == 0
    assert run("migrate", "down", "--schemas", "c").exit_code == 0
    assert rows(db, "c") == [SCHEMA] and tables(db, "c") == set()
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS, NOTES]
    document = json.loads(run("migrate", "down", "--schemas", "a,c", "--json").output)
    assert document["command"] == "migrate down" and document["ok"] and document["exit_code"] == 0
    assert document["summary"] == {"applied": 2, "current": 0, "failed": 0, "skipped": 0}
    assert [(t["target"], t["status"], t["applied"]) for t in document["targets"]] == [
        ("a", "applied", [NOTES]),
        ("c", "applied", [SCHEMA]),
    ]
    assert rows(db, "a") == [SCHEMA, ITEMS] and rows(db, "c") == [] and rows(db, "b") == [SCHEMA, ITEMS, NOTES]
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'c'").fetchone() == (0,)
    again = json.loads(run("migrate", "down", "--schemas", "c", "--json").output)
    assert [t["status"] for t in again["targets"]] == ["current"]  # nothing left there: nothing to do


@pytest.mark.timeout(60)
def test_down_to_and_all_over_targets(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    assert run("migrate", "down", "--schemas", "a", "--to", "20240101_000000").exit_code == 0
    assert rows(db, "a") == [SCHEMA]
    assert run("migrate", "down", "--schemas", "a,b", "--all", "--yes").exit_code == 0
    assert rows(db, "a") == rows(db, "b") == []
    log = db.execute("SELECT schema, what FROM public.log WHERE what = 'items down' ORDER BY schema").fetchall()
    assert log == [("a", "items down"), ("b", "items down")]  # each down file rendered with its target's schema


@pytest.mark.timeout(60)
def test_a_failed_rollback_stops_the_rest_with_max_failures(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a,b,c").exit_code == 0
    db.execute("CREATE VIEW a.notes_view AS SELECT * FROM a.notes")  # DROP TABLE a.notes now fails
    result = run("migrate", "down", "--schemas", "a,b,c", "--jobs", "1", "--max-failures", "1", "--json")
    document = json.loads(result.output)
    assert result.exit_code == 1 and document["exit_code"] == 1 and not document["ok"]
    assert [t["status"] for t in document["targets"]] == ["failed", "skipped", "skipped"]
    assert document["targets"][0]["error"]["type"] == "MigrationError"
    assert all(rows(db, t) == [SCHEMA, ITEMS, NOTES] for t in ("a", "b", "c"))
    text = run("migrate", "down", "--schemas", "a,b,c")
    assert text.exit_code == 1
    assert "1 failed" in text.output and "  a: " in text.output and "notes_view" in text.output
    assert rows(db, "b") == rows(db, "c") == [SCHEMA, ITEMS]


@pytest.mark.timeout(60)
def test_accept_of_a_drifted_target_through_the_printed_advice(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    items = project / "migrations" / "migrate" / f"{ITEMS}.up.sql"
    items.write_text(items.read_text() + "-- edited on purpose\n")
    failed = run("migrate", "up", "--schemas", "a,b")
    assert failed.exit_code == 4
    command = advice(failed.output)
    assert command == ["sqlmig", "migrate", "accept", ITEMS, "--schemas", "a"]
    accepted = run(*command[1:])
    assert accepted.exit_code == 0, accepted.output
    assert f"  a: accepted {ITEMS}" in accepted.output
    still = run("migrate", "up", "--schemas", "a,b")
    assert still.exit_code == 4 and advice(still.output)[-2:] == ["--schemas", "b"]  # b was not accepted
    assert run(*advice(still.output)[1:]).exit_code == 0
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    status = run("migrate", "status", "--schemas", "a,b", "--exit-code")
    assert status.exit_code == 0, status.output


@pytest.mark.timeout(60)
def test_the_advice_of_a_target_named_with_a_comma_and_a_quote(project: Path, db: Conn) -> None:
    query = "SELECT 'o''brien, ltd' UNION ALL SELECT 'Tenant-1'"
    assert run("migrate", "up", "--schemas-from", query).exit_code == 0
    notes = project / "migrations" / "migrate" / f"{NOTES}.up.sql"
    notes.write_text(notes.read_text() + "-- edited\n")
    failed = run("migrate", "status", "--schemas-from", query)
    assert failed.output.count("record the new checksum with:") == 2
    for line in [line for line in failed.output.splitlines() if "record the new checksum" in line]:
        assert run(*advice(line)[1:]).exit_code == 0
    assert rows(db, "o'brien, ltd") == [SCHEMA, ITEMS, NOTES]
    assert run("migrate", "status", "--schemas-from", query, "--exit-code").exit_code == 0
    down = run("migrate", "down", "--schemas", "Tenant-1,o'brien, ltd")  # --schemas splits it: not a target here
    assert down.exit_code == 0 and rows(db, "Tenant-1") == [SCHEMA, ITEMS]
    assert rows(db, "o'brien, ltd") == [SCHEMA, ITEMS, NOTES] and rows(db, "o'brien") == []
    assert run("migrate", "down", "--schemas-from", "SELECT 'o''brien, ltd'").exit_code == 0
    assert rows(db, "o'brien, ltd") == [SCHEMA, ITEMS] and "notes" not in tables(db, "o'brien, ltd")


@pytest.mark.timeout(60)
def test_baseline_over_targets_records_without_running(project: Path, db: Conn) -> None:
    for schema in ("a", "b"):  # built before sqlmig: the objects are there, no history
        db.execute(sql.SQL("CREATE SCHEMA {0}; CREATE TABLE {0}.items (id int)").format(sql.Identifier(schema)))
    result = run("migrate", "baseline", "--to", "20240102_000000", "--schemas", "a,b")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [f"  a: recorded {SCHEMA}, {ITEMS}", f"  b: recorded {SCHEMA}, {ITEMS}"]
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS]
    assert db.execute("SELECT count(*) FROM public.log").fetchone() == (0,)  # nothing ran
    again = json.loads(run("migrate", "baseline", "--to", "20240102_000000", "--schemas", "a,b", "--json").output)
    assert again["summary"] == {"applied": 0, "current": 2, "failed": 0, "skipped": 0}
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS, NOTES] and tables(db, "a") == {"items", "notes"}
    unknown = run("migrate", "baseline", "--to", "20990101_000000", "--schemas", "a")
    assert unknown.exit_code == 4 and "no migrate migration file has that version" in unknown.output


@pytest.mark.timeout(60)
def test_accept_with_nothing_to_accept_creates_nothing(project: Path, db: Conn) -> None:
    result = run("migrate", "accept", "--schemas", "a,b")
    assert result.exit_code == 0 and "0 accepted, 2 unchanged" in result.output
    assert db.execute("SELECT to_regclass('public.migration_history_targets')").fetchone() == (None,)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [["down"], ["accept"], ["baseline", "--to", "20240101_000000"]])
def test_configured_targets_are_not_acted_on_unless_named(project: Path, db: Conn, command: list[str]) -> None:
    (project / "pyproject.toml").write_text('[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas = ["a", "b"]\n')
    assert run("migrate", "up").exit_code == 0  # up fans out over the configured targets
    refused = run("migrate", *command)
    assert refused.exit_code == 2
    assert f"'migrate {command[0]}' acts only on the targets its command line names" in refused.output
    assert "take every configured one with --schemas a,b" in refused.output
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS, NOTES]
    assert run("migrate", *command, "--shard", "1/2").exit_code == 2  # a part of them is not naming them
    assert run("migrate", *command, "--schema", "a").exit_code == 0  # the ordinary history, which is empty
    assert rows(db, "a") == [SCHEMA, ITEMS, NOTES]
    assert run("migrate", *command, "--schemas", "a,b").exit_code == 0


@pytest.mark.timeout(60)
def test_the_refusal_shows_the_configured_query_to_pass(project: Path, db: Conn) -> None:
    query = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%'"
    (project / "pyproject.toml").write_text(f'[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas_from = "{query}"\n')
    assert run("migrate", "up", "--schemas", "tenant_a,tenant_b").exit_code == 0
    refused = run("migrate", "down")
    assert refused.exit_code == 2
    shown = refused.output.split("take every configured one with ", 1)[1].split("; or give")[0]
    assert shlex.split(shown) == ["--schemas-from", query]
    assert run("migrate", "down", *shlex.split(shown)).exit_code == 0
    assert rows(db, "tenant_a") == rows(db, "tenant_b") == [SCHEMA, ITEMS]


@pytest.mark.timeout(60)
def test_down_over_databases_and_their_drift_advice(project: Path, db: Conn, databases: list[str]) -> None:
    listing = project / "databases.txt"
    listing.write_text("\n".join(databases) + "\n")
    assert run("migrate", "up", "--databases-from", str(listing), "--schema", "app").exit_code == 0
    result = run("migrate", "down", "--databases-from", str(listing), "--schema", "app", "--json")
    document = json.loads(result.output)
    assert result.exit_code == 0
    assert [(t["target"], t["applied"]) for t in document["targets"]] == [(name, [NOTES]) for name in databases]
    url = db.info.dsn
    for name in databases:
        with psycopg.connect(make_conninfo(url, dbname=name), password=db.info.password or None) as other:
            assert rows(other) == [SCHEMA, ITEMS] and tables(other, "app") == {"items"}
    # The database of DATABASE_URL only names the server: it is not a target.
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)
    items = project / "migrations" / "migrate" / f"{ITEMS}.up.sql"
    items.write_text(items.read_text() + "-- edited\n")
    failed = run("migrate", "up", "--databases-from", str(listing), "--schema", "app")
    assert failed.exit_code == 4
    command = advice(failed.output)
    assert command[:4] == ["sqlmig", "migrate", "accept", ITEMS] and command[4] == "--database-url"
    assert run(*command[1:]).exit_code == 0
    rerun = run("migrate", "up", "--databases-from", str(listing), "--schema", "app")
    assert rerun.exit_code == 4 and "1 applied, 0 current, 1 failed" in rerun.output  # the other one still drifted


@pytest.mark.timeout(60)
def test_seed_down_over_targets(project: Path, db: Conn) -> None:
    tree(
        project / "migrations",
        {
            "seed/20240201_000000_rows.up.sql": "INSERT INTO {{ schema | ident }}.items VALUES (1);\n",
            "seed/20240201_000000_rows.down.sql": "DELETE FROM {{ schema | ident }}.items;\n",
        },
    )
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    assert run("seed", "up", "--schemas", "a,b").exit_code == 0
    result = run("seed", "down", "--schemas", "a")
    assert result.exit_code == 0 and "seed down on 1 target(s): 1 rolled back" in result.output
    count = "SELECT count(*) FROM {}.items"
    assert db.execute(sql.SQL(count).format(sql.Identifier("a"))).fetchone() == (0,)
    assert db.execute(sql.SQL(count).format(sql.Identifier("b"))).fetchone() == (1,)


@pytest.mark.timeout(60)
def test_a_fanout_down_refuses_dry_run(project: Path, db: Conn) -> None:
    result = run("migrate", "down", "--schemas", "a", "--dry-run")
    assert result.exit_code == 2 and "--dry-run is not available with a fan-out" in result.output


@pytest.mark.timeout(60)
def test_rollback_all(project: Path, db: Conn, db_url: str) -> None:
    directory = project / "migrations"
    assert sqlmig.apply_all(db_url, directory, schemas=["a", "b", "c"]).ok
    report = sqlmig.rollback_all(db_url, directory, schemas=["a", "b"], jobs=2)
    assert report.ok and [(r.target, r.status, r.applied) for r in report.results] == [
        ("a", "applied", (NOTES,)),
        ("b", "applied", (NOTES,)),
    ]
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS] and rows(db, "c") == [SCHEMA, ITEMS, NOTES]
    (project / "pyproject.toml").write_text('[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas = ["a", "b", "c"]\n')
    with pytest.raises(sqlmig.ConfigError, match="never fall back to"):
        sqlmig.rollback_all(db_url, directory)
    with pytest.raises(TypeError):
        sqlmig.rollback_all(db_url, directory, schemas=["a"], no_such_option=1)
    assert rows(db, "c") == [SCHEMA, ITEMS, NOTES]


@pytest.mark.timeout(60)
def test_baselines_started_together_on_a_new_database_both_finish(project: Path, db: Conn, db_url: str) -> None:
    from sqlmig.fanout.manage import baseline_each, chosen_runs
    from sqlmig.fanout.report import Selection

    settings = sqlmig.Migrator.from_config(db_url, project / "migrations").settings
    for round in range(5):  # each round on a new targets' table: the one both runs would create
        db.execute("DROP TABLE IF EXISTS public.migration_history_targets")
        barrier = threading.Barrier(2)
        reports: list[bool] = []

        def baseline(names: list[str], barrier: threading.Barrier, reports: list[bool]) -> None:
            runs = chosen_runs(settings, Selection(schemas=names))
            barrier.wait()
            reports.append(baseline_each(runs, to="20240101_000000").ok)

        threads = [
            threading.Thread(target=baseline, args=([f"r{round}_{side}"], barrier, reports)) for side in ("x", "y")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert reports == [True, True]
        assert rows(db, f"r{round}_x") == rows(db, f"r{round}_y") == [SCHEMA]


@pytest.mark.timeout(60)
def test_every_command_a_target_is_advised_names_it(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "a", "--to", "20240102_000000").exit_code == 0
    items = project / "migrations" / "migrate" / f"{ITEMS}.up.sql"
    items.write_text(items.read_text() + "-- edited\n")
    for command in (["up", "--to", "20240103_000000"], ["down"]):  # planned by the fan-out, and by the target's run
        failed = run("migrate", *command, "--schemas", "a")
        assert failed.exit_code == 4 and advice(failed.output) == [
            "sqlmig",
            "migrate",
            "accept",
            ITEMS,
            "--schemas",
            "a",
        ]
    assert run("migrate", "accept", "--schemas", "a").exit_code == 0
    tree(project / "migrations", {"seed/20240201_000000_rows.up.sql": "SELECT 1;\n"})
    seeds = run("seed", "up", "--schemas", "a")
    assert seeds.exit_code == 4 and "Run 'sqlmig migrate up --schemas a' first." in seeds.output
    assert run("migrate", "up", "--schemas", "a").exit_code == 0
    db.execute(
        "INSERT INTO public.migration_history_targets (target, name, type, version) "
        "VALUES ('a', '20990101_000000_newer', 'migrate', '20990101_000000')"
    )
    newer = run("migrate", "down", "--schemas", "a", "--steps", "2")
    assert newer.exit_code == 4 and "('sqlmig migrate down --schemas a' from it)" in newer.output


@pytest.mark.timeout(60)
def test_down_reads_the_files_once_and_renders_a_plain_down_file_once(
    project: Path, db: Conn, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmig import migrator
    from sqlmig.run import runner

    tree(
        project / "migrations",
        {
            "migrate/20240104_000000_flag.up.sql": "INSERT INTO public.log VALUES ('any', 'flag');\n",
            "migrate/20240104_000000_flag.down.sql": "DELETE FROM public.log WHERE what = 'flag';\n",
        },
    )
    names = [f"t{i}" for i in range(4)]
    assert sqlmig.apply_all(db_url, project / "migrations", schemas=names).ok
    rendered: list[tuple[str, str]] = []
    real_render = runner.render
    monkeypatch.setattr(runner, "render", lambda f, d, *rest: rendered.append((f.name, d)) or real_render(f, d, *rest))
    monkeypatch.setattr(migrator, "discover_tracks", lambda *_: pytest.fail("a target read the files again"))
    report = sqlmig.rollback_all(db_url, project / "migrations", schemas=names, jobs=2)
    assert report.ok and all(r.applied == ("20240104_000000_flag",) for r in report.results)
    assert rendered == [("20240104_000000_flag", "down")], rendered


@pytest.mark.timeout(60)
def test_accept_and_baseline_of_the_ordinary_history_print_json(project: Path, db: Conn) -> None:
    db.execute("CREATE SCHEMA plain")  # what the baselined migration made
    baseline = run("migrate", "baseline", "--to", "20240101_000000", "--schema", "plain", "--json")
    assert json.loads(baseline.output) == {
        "command": "migrate baseline",
        "ok": True,
        "exit_code": 0,
        "format": 1,
        "track": "migrate",
        "recorded": [SCHEMA],
    }
    assert run("migrate", "up", "--schema", "plain").exit_code == 0
    items = project / "migrations" / "migrate" / f"{ITEMS}.up.sql"
    items.write_text(items.read_text() + "-- edited\n")
    accepted = json.loads(run("migrate", "accept", "--json").output)
    assert accepted["command"] == "migrate accept" and accepted["accepted"] == [ITEMS]
    assert run("migrate", "accept").output == "Nothing to accept.\n"


@pytest.mark.timeout(60)
def test_down_all_on_a_terminal_asks_naming_the_targets(
    project: Path, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    # A terminal: CliRunner's streams say they are one (stderr then shows the progress line too).
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda _: True)
    refused = CliRunner().invoke(main, ["migrate", "down", "--schemas", "a,b", "--all"], input="n\n")
    assert refused.exit_code == 1 and "Roll back ALL applied migrate files of 2 target(s)?" in refused.output
    assert rows(db, "a") == rows(db, "b") == [SCHEMA, ITEMS, NOTES]
    done = CliRunner().invoke(main, ["migrate", "down", "--schemas", "a,b", "--all"], input="y\n")
    assert done.exit_code == 0 and "[2/2] 0 failed, 0 running" in done.stderr
    assert rows(db, "a") == rows(db, "b") == []


@pytest.mark.timeout(90)
def test_ctrl_c_stops_a_running_rollback_promptly(project: Path, db: Conn, db_url: str) -> None:
    assert run("migrate", "up", "--schemas", "a,b,c").exit_code == 0
    notes = project / "migrations" / "migrate" / f"{NOTES}.down.sql"
    notes.write_text("SELECT pg_sleep(8);\n" + FILES[f"migrate/{NOTES}.down.sql"])
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(Path(sqlmig.__file__).parents[1])}
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "sqlmig", "migrate", "down", "--schemas", "a,b,c", "--jobs", "2"]
    code, seconds = interrupted(db, command, project, env)
    assert code != 0
    assert seconds < 4, f"exited {seconds:.1f} s after Ctrl-C"
    assert all(rows(db, t) == [SCHEMA, ITEMS, NOTES] and "notes" in tables(db, t) for t in ("a", "b", "c"))
    notes.write_text(FILES[f"migrate/{NOTES}.down.sql"])
    rerun = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert all(rows(db, t) == [SCHEMA, ITEMS] for t in ("a", "b", "c"))
