"""Fan-out attacked as a hostile user and a careless operator would: hostile target names and per-target variables,
a no-transaction file stopped in one tenant, a template failing for one tenant only, drift in some tenants, seeds
per tenant, bad databases among good ones, passwords, a fleet of 500 targets, Ctrl-C, too many jobs.

The tests marked ``xfail(strict=True)`` reproduce defects; each reason says what is wrong. The others hold.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import time
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
from sqlmig import config
from sqlmig.cli.commands import main
from sqlmig.cli.fanout import Progress
from sqlmig.fanout import TargetResult
from sqlmig.fanout.runner import up_all
from sqlmig.targets import Target

from .fanout_helpers import FILES, ITEMS, SCHEMA, cli_project, connection_limited_role, interrupted
from .helpers import tree

pytestmark = pytest.mark.newest

Conn = psycopg.Connection[tuple[object, ...]]

NAMES = ("20240101_000000_schema", "20240102_000000_items")


def settings(db_url: str, directory: Path, **options: object) -> config.Settings:
    return config.load(database_url=db_url, directory=directory, cwd=directory, environ={}, **options)  # type: ignore[arg-type]


def target_rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT target, name FROM public.migration_history_targets ORDER BY target, id").fetchall()


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def project(db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """A project in the working directory (migrations/ under it) whose DATABASE_URL is the test's database."""
    return cli_project(db, tmp_path, monkeypatch, db_url, FILES)


# What holds.


@pytest.mark.timeout(60)
def test_hostile_names_and_per_target_variables_are_quoted(project: Path, db: Conn) -> None:
    tree(
        project / "migrations",
        {
            "migrate/20240103_000000_plan.up.sql": "ALTER TABLE {{ schema | ident }}.items ADD plan text "
            "DEFAULT {{ plan | literal }};\n"
        },
    )
    hostile = {
        "Tenant": "a",
        "tenant": "b",  # differs only by case: another schema
        "é" * 31 + "x": "c",  # exactly 63 bytes of UTF-8
        "a) (target b": "x'); DROP TABLE public.log; --",  # looks like another target in the lock key's text
        'x"; DROP TABLE public.log; --': "it's",
        "public": "p",  # an existing non-tenant schema
    }
    db.execute("CREATE TABLE public.tenants (name text, plan text)")
    with db.cursor() as cur:
        cur.executemany("INSERT INTO public.tenants VALUES (%s, %s)", list(hostile.items()))
    result = run("migrate", "up", "--schemas-from", "SELECT name, plan FROM public.tenants", "--jobs", "3", "--json")
    document = json.loads(result.output)
    assert (result.exit_code, document["summary"]["applied"]) == (0, len(hostile)), result.output
    query = (
        "SELECT column_default FROM information_schema.columns WHERE table_schema = %s AND table_name = 'items'"
        " AND column_name = 'plan'"
    )
    for name, plan in hostile.items():
        found = db.execute(query, (name,)).fetchone()
        assert found is not None and found[0] == "'" + plan.replace("'", "''") + "'::text", name
    logged = db.execute("SELECT schema FROM public.log ORDER BY 1").fetchall()  # public.log was not dropped
    assert logged == sorted((n,) for n in hostile)
    assert run("migrate", "status", "--schemas-from", "SELECT name FROM public.tenants", "--exit-code").exit_code == 0
    too_long = run("migrate", "up", "--schemas", "é" * 32)  # 64 bytes: PostgreSQL would cut it silently
    assert too_long.exit_code == 5 and "63-byte" in too_long.output


@pytest.mark.timeout(60)
def test_a_no_transaction_file_stopped_in_one_tenant_resumes_there_only(db_url: str, db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE TABLE public.log (schema text, what text); CREATE TABLE public.gate (s text CHECK (s <> 't2'))")
    tree(
        tmp_path,
        {
            SCHEMA: FILES[SCHEMA],
            "migrate/20240102_000000_notx.up.sql": (
                "-- sqlmig: no-transaction\n"
                "CREATE TABLE {{ schema | ident }}.a (x int);\n"
                "INSERT INTO public.log VALUES ({{ schema | literal }}, 'notx');\n"
                "INSERT INTO public.gate VALUES ({{ schema | literal }});\n"
                "CREATE INDEX CONCURRENTLY a_x ON {{ schema | ident }}.a (x);\n"
            ),
        },
    )
    targets = ["t1", "t2", "t3"]
    first = sqlmig.apply_all(db_url, tmp_path, schemas=targets, jobs=2)
    assert [r.status for r in first.results] == ["applied", "failed", "applied"]
    error = first.results[1].error
    assert isinstance(error, sqlmig.MigrationError) and (error.line, error.sqlstate) == (4, "23514")
    progress = db.execute(
        "SELECT statements_done FROM public.migration_history_targets WHERE target = 't2' AND "
        "name = '20240102_000000_notx'"
    ).fetchone()
    assert progress == (2,)
    db.execute("ALTER TABLE public.gate DROP CONSTRAINT gate_s_check")
    again = sqlmig.apply_all(db_url, tmp_path, schemas=targets, jobs=2)
    assert [r.status for r in again.results] == ["current", "applied", "current"]
    assert db.execute("SELECT schema, count(*) FROM public.log GROUP BY 1 ORDER BY 1").fetchall() == [
        (t, 1)
        for t in targets  # no statement ran twice
    ]
    assert db.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)
    assert [n for t, n in target_rows(db) if t == "t2"] == ["20240101_000000_schema", "20240102_000000_notx"]


@pytest.mark.timeout(60)
def test_a_template_that_fails_for_one_tenant_fails_only_it(db_url: str, db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE TABLE public.log (schema text, what text)")
    tree(
        tmp_path, {SCHEMA: FILES[SCHEMA], ITEMS: FILES[ITEMS] + "{% if schema == 'bad' %}\n{{ region }}\n{% endif %}\n"}
    )
    report = sqlmig.apply_all(db_url, tmp_path, schemas=["good", "bad", "good2"], jobs=2)
    assert [r.status for r in report.results] == ["applied", "failed", "applied"]
    error = report.results[1].error
    assert isinstance(error, sqlmig.RenderError)
    assert str(error).startswith(f"{tmp_path / ITEMS}:4: template error: 'region' is undefined")
    # Every pending file is rendered before any of them runs: the bad tenant is left untouched, not half-done.
    assert {t for t, _ in target_rows(db)} == {"good", "good2"}
    assert db.execute("SELECT to_regnamespace('bad')").fetchone() == (None,)


@pytest.mark.timeout(60)
def test_a_file_edited_after_it_ran_in_some_tenants_stops_only_those(project: Path, db: Conn) -> None:
    assert run("migrate", "up", "--schemas", "old").exit_code == 0
    assert run("migrate", "up", "--schemas", "new", "--to", "20240101_000000").exit_code == 0
    items = project / "migrations" / ITEMS
    items.write_text(items.read_text() + "-- edited\n")
    result = run("migrate", "up", "--schemas", "old,new", "--json")
    document = json.loads(result.output)
    assert result.exit_code == 4, result.output
    assert [(t["target"], t["status"]) for t in document["targets"]] == [("old", "failed"), ("new", "applied")]
    assert "edited after they ran: 20240102_000000_items" in document["targets"][0]["error"]["message"]
    assert db.execute("SELECT schema FROM public.log ORDER BY 1").fetchall() == [("new",), ("old",)]


@pytest.mark.timeout(60)
def test_seeds_run_per_tenant_only_after_its_migrations(project: Path, db: Conn) -> None:
    tree(
        project / "migrations",
        {"seed/20240201_000000_rows.up.sql": "INSERT INTO {{ schema | ident }}.items VALUES (1);\n"},
    )
    assert run("migrate", "up", "--schemas", "a").exit_code == 0
    early = json.loads(run("seed", "up", "--schemas", "a,b", "--json").output)
    assert [(t["target"], t["status"]) for t in early["targets"]] == [("a", "applied"), ("b", "failed")]
    assert early["targets"][1]["error"]["type"] == "PendingMigrationsError"
    assert run("migrate", "up", "--schemas", "a,b").exit_code == 0
    late = json.loads(run("seed", "up", "--schemas", "a,b", "--json").output)
    assert [(t["target"], t["status"]) for t in late["targets"]] == [("a", "current"), ("b", "applied")]
    assert [db.execute(f"SELECT count(*) FROM {s}.items").fetchone() for s in "ab"] == [(1,), (1,)]


@pytest.fixture
def other_database(db: Conn, db_url: str) -> Iterator[str]:
    """Another database on the test's server, with the public.log table the migrations write to."""
    name = f"sqlmig_attack_{uuid.uuid4().hex[:12]}"
    db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(make_conninfo(db_url, dbname=name), autocommit=True) as other:
            other.execute("CREATE TABLE public.log (schema text, what text)")
        yield name
    finally:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.timeout(60)
def test_a_missing_database_does_not_stop_the_rest_and_no_password_is_printed(
    project: Path, db_url: str, other_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Sup3rSecretPassw0rd"
    missing = make_conninfo(db_url, dbname=f"{other_database}_missing", password=secret)
    listing = project / "databases.txt"
    listing.write_text(f"{missing}\n{other_database}\n")
    text = run("migrate", "up", "--databases-from", str(listing), "--schema", "app")
    assert text.exit_code == 5 and "1 applied, 0 current, 1 failed" in text.output
    as_json = run("migrate", "up", "--databases-from", str(listing), "--schema", "app", "--json")
    document = json.loads(as_json.output)
    assert [t["status"] for t in document["targets"]] == ["failed", "current"]
    status = run("migrate", "status", "--databases-from", str(listing), "--schema", "app", "--json")
    everything = text.output + as_json.output + status.output + caplog.text
    assert secret not in everything and "does not exist" in everything


@pytest.mark.timeout(120)
def test_five_hundred_targets_each_once_and_a_valid_document(project: Path, db: Conn) -> None:
    names = [f"tenant_{i:03}" for i in range(500)]
    started = time.monotonic()
    result = run("migrate", "up", "--schemas", ",".join(names), "--jobs", "8", "--json")
    seconds = time.monotonic() - started
    document = json.loads(result.output)
    assert result.exit_code == 0 and document["summary"]["applied"] == 500
    assert [t["target"] for t in document["targets"]] == names
    counts = db.execute("SELECT count(*), count(DISTINCT (target, name)) FROM public.migration_history_targets")
    assert counts.fetchone() == (1000, 1000)
    assert db.execute("SELECT count(*), count(DISTINCT schema) FROM public.log").fetchone() == (500, 500)
    print(f"500 targets in {seconds:.1f} s")  # reported with -s; no assertion on time


# Defects.


@pytest.mark.timeout(60)
def test_schemas_from_cannot_write_even_after_a_commit(project: Path, db: Conn) -> None:
    run("migrate", "up", "--schemas-from", "COMMIT; CREATE TABLE public.oops (x int); SELECT 'a'")
    assert db.execute("SELECT to_regclass('public.oops')").fetchone() == (None,)


@pytest.mark.timeout(60)
def test_apply_all_takes_each_listed_name_as_one_target(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(tmp_path, {SCHEMA: FILES[SCHEMA]})
    report = sqlmig.apply_all(db_url, tmp_path, schemas=["acme, inc"])
    assert [r.target for r in report.results] == ["acme, inc"]


@pytest.mark.timeout(60)
def test_every_target_reaches_on_result(db_url: str, db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE TABLE public.log (schema text, what text)")
    tree(tmp_path, dict(FILES))
    up_all(settings(db_url, tmp_path), [Target("a")])
    seen: list[TargetResult] = []
    report = up_all(settings(db_url, tmp_path), [Target(s) for s in "abc"], on_result=seen.append)
    assert report.ok
    assert sorted(r.target for r in seen) == ["a", "b", "c"]


def visible(written: str) -> list[str]:
    """The lines a terminal shows for ``written``: a carriage return goes back to the start of the line and the
    characters after it overwrite, not erase, what was there."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    for ch in written:
        if ch == "\r":
            column = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            line[column : column + 1] = [ch]
            column += 1
    return [*lines, "".join(line).rstrip()] if line else lines


@pytest.mark.timeout(10)
def test_the_progress_line_leaves_nothing_of_a_longer_one() -> None:
    stream = io.StringIO()
    progress = Progress(10, stream, jobs=4)
    for i in range(10):
        progress(TargetResult(f"t{i}", "applied"))
    progress.end()
    assert visible(stream.getvalue()) == ["[10/10] 0 failed, 0 running"]


@pytest.mark.timeout(90)
def test_ctrl_c_stops_running_targets_promptly(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(tmp_path, {"migrations/" + SCHEMA: FILES[SCHEMA] + "SELECT pg_sleep(8);\n"})
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(Path(sqlmig.__file__).parents[1])}
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "sqlmig", "migrate", "up", "--schemas", "a,b,c", "--jobs", "2"]
    code, seconds = interrupted(db, command, tmp_path, env)
    assert code != 0
    assert seconds < 4, f"exited {seconds:.1f} s after Ctrl-C"
    assert db.execute("SELECT count(*) FROM public.migration_history_targets").fetchone() == (0,)
    # The rerun need not wait again: nothing of the file ran or was recorded, so it may change.
    (tmp_path / "migrations" / SCHEMA).write_text(FILES[SCHEMA], encoding="utf-8")
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stderr


@pytest.mark.timeout(60)
def test_more_jobs_than_connections_still_runs_every_target(db_url: str, db: Conn, tmp_path: Path) -> None:
    with connection_limited_role(db, "sqlmig_attack") as role:
        tree(tmp_path, {SCHEMA: FILES[SCHEMA]})
        report = sqlmig.apply_all(
            make_conninfo(db_url, user=role), tmp_path, schemas=[f"t{i}" for i in range(8)], jobs=4
        )
        assert report.ok, [str(r.error) for r in report.failed][:1]


@pytest.mark.timeout(60)
def test_a_failed_target_lists_what_it_applied_before_failing(db_url: str, db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE TABLE public.log (schema text, what text); CREATE SCHEMA t2; CREATE TABLE t2.items (c int)")
    tree(tmp_path, dict(FILES))
    report = up_all(settings(db_url, tmp_path), [Target("t1"), Target("t2")])
    assert report.results[1].status == "failed"
    assert report.results[1].applied == ("20240101_000000_schema",)


@pytest.mark.timeout(60)
def test_the_accept_a_drifted_target_is_told_to_run_works(project: Path) -> None:
    assert run("migrate", "up", "--schemas", "a").exit_code == 0
    items = project / "migrations" / ITEMS
    items.write_text(items.read_text() + "-- edited on purpose\n")
    failed = run("migrate", "up", "--schemas", "a")
    assert failed.exit_code == 4
    advice = failed.output.split("record the new checksum with: ", 1)[1].splitlines()[0]
    command = shlex.split(advice)
    assert command[0] == "sqlmig"
    run(*command[1:])
    assert run("migrate", "up", "--schemas", "a").exit_code == 0


@pytest.mark.timeout(60)
def test_status_of_a_project_with_configured_targets(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas = ["a", "b"]\n')
    assert run("migrate", "up").exit_code == 0
    assert run("migrate", "status", "--exit-code").exit_code == 0
    assert run("status", "--exit-code").exit_code == 0


@pytest.mark.timeout(60)
def test_a_missing_databases_file_is_named_as_missing(project: Path) -> None:
    result = run("migrate", "up", "--databases-from", "fleet/databases.txt", "--schema", "app")
    assert result.exit_code in (2, 5)
    assert "syntax error" not in result.output and "fleet/databases.txt" in result.output


@pytest.mark.timeout(60)
def test_databases_from_with_schemas_from_is_refused(project: Path, other_database: str) -> None:
    listing = project / "databases.txt"
    listing.write_text(other_database + "\n")
    result = run("migrate", "up", "--databases-from", str(listing), "--schemas-from", "SELECT 'x'", "--schema", "a")
    assert result.exit_code == 2, result.output


@pytest.mark.timeout(60)
def test_schemas_from_variables_are_postgresql_text(project: Path, db: Conn) -> None:
    tree(
        project / "migrations",
        {
            "migrate/20240103_000000_conf.up.sql": "CREATE TABLE {{ schema | ident }}.conf (settings jsonb DEFAULT "
            "{{ settings | literal }}::jsonb, tags text[] DEFAULT {{ tags | literal }}::text[]);\n"
        },
    )
    query = "SELECT 'j', '{\"tier\": \"gold\"}'::jsonb AS settings, ARRAY['a', 'b'] AS tags"
    result = run("migrate", "up", "--schemas-from", query)
    assert result.exit_code == 0, result.output


@pytest.mark.timeout(10)
def test_a_schema_name_that_is_not_utf8_is_refused() -> None:
    # A URL nothing answers at: the names are refused before any connection (and no embedded server starts).
    url = "postgresql://nobody@127.0.0.1:1/nowhere"
    result = CliRunner().invoke(main, ["migrate", "status", "--database-url", url, "--schemas", "ok,\udcff"])
    assert result.exit_code == 5 and not isinstance(result.exception, UnicodeError)
    assert "is not valid UTF-8" in result.output
