"""Fan-out edge cases: more jobs than the server has connections for, a ``--to`` no file has, a target query that
finds nothing, the plugin's TenantsFailed in the one error tree, and where ``status --databases-from`` says its
databases came from."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import make_conninfo

import sqlmig
from sqlmig import config, errors
from sqlmig.cli import exits
from sqlmig.cli.commands import main
from sqlmig.fanout import workers
from sqlmig.fanout.runner import up_databases

from .fanout_helpers import FILES, SCHEMA, cli_project, connection_limited_role, propagating_log
from .helpers import tree

pytestmark = pytest.mark.newest

Conn = psycopg.Connection[tuple[object, ...]]

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
    return cli_project(db, tmp_path, monkeypatch, db_url, FILES)


@pytest.fixture
def sqlmig_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    return propagating_log(caplog, monkeypatch)


@pytest.fixture
def limited_role(db: Conn) -> Iterator[str]:
    """A login role that owns the test's database and may hold two connections at a time."""
    with connection_limited_role(db, "sqlmig_fixes") as role:
        yield role


# 1. --jobs beyond the server's connections.


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("FATAL:  sorry, too many clients already", True),
        ('FATAL:  too many connections for role "app"', True),
        ('FATAL:  too many connections for database "shop"', True),
        ("FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute", True),
        ("FATAL:  remaining connection slots are reserved for non-replication superuser connections", True),
        ('FATAL:  password authentication failed for user "app"', False),
        ('FATAL:  database "nope" does not exist', False),
        ("Connection refused. Start the server, or wait for it with --wait SECONDS.", False),
    ],
    ids=["max_connections", "role limit", "database limit", "reserved 16+", "reserved before 16", "password",
         "no database", "no server"],
)  # fmt: skip
@pytest.mark.timeout(60)
def test_which_refusals_mean_too_many_connections(message: str, expected: bool) -> None:
    assert (
        workers.too_many_connections(errors.ConnectError(f"cannot connect to postgresql://h/db: {message}")) is expected
    )


@pytest.mark.timeout(60)
def test_a_connection_lost_during_a_migration_is_not_a_refusal() -> None:
    lost = errors.ConnectionLostError(path=Path("a.up.sql"), name="a", message=TOO_MANY, outcome="rolled back")
    assert workers.too_many_connections(lost) is False


def refusing_run(allowed: int, ran: Counter[int]) -> Callable[[int], int]:
    """A run that only ``allowed`` threads may do (the first to ask); the others are refused as a full server
    refuses a connection."""
    lock, admitted = threading.Lock(), set[str]()

    def run(item: int) -> int:
        me = threading.current_thread().name
        with lock:
            if me not in admitted and len(admitted) < allowed:
                admitted.add(me)
            ok = me in admitted
        if not ok:
            raise workers.NoConnection(errors.ConnectError(TOO_MANY))
        time.sleep(0.002)  # long enough for the threads to overlap
        with lock:
            ran[item] += 1
        return item * 10

    return run


@pytest.mark.timeout(60)
def test_the_threads_that_get_no_connection_give_their_items_to_the_others() -> None:
    ran: Counter[int] = Counter()
    stopped: list[bool] = []
    with workers.Workers(shared=True) as pool:
        results = list(
            pool.map(
                refusing_run(2, ran),
                range(60),
                8,
                refused=lambda item, exc: -1,
                stop=lambda: stopped.append(True),
            )
        )
    assert results == [i * 10 for i in range(60)]
    assert ran == Counter(range(60))  # each item ran once: none twice, none lost
    assert stopped == []


@pytest.mark.timeout(60)
def test_when_no_thread_gets_a_connection_every_item_is_refused_in_order() -> None:
    def run(item: int) -> str:
        raise workers.NoConnection(errors.ConnectError(f"{TOO_MANY} ({item})"))

    with workers.Workers(shared=True) as pool:
        results = list(pool.map(run, range(12), 4, refused=lambda item, exc: str(exc), stop=lambda: None))
    assert results == [f"{TOO_MANY} ({i})" for i in range(12)]


@pytest.mark.timeout(60)
def test_closing_the_pool_early_stops_it_and_waits_for_its_threads() -> None:
    ran: Counter[int] = Counter()
    stopped: list[bool] = []
    before = set(threading.enumerate())
    with workers.Workers(shared=True) as pool:
        results = pool.map(
            refusing_run(3, ran),
            range(500),
            6,
            refused=lambda item, exc: -1,
            stop=lambda: stopped.append(True),
        )
        assert next(results) == 0
        results.close()  # what an interrupt in the consumer does
    assert stopped == [True]
    assert set(threading.enumerate()) <= before
    assert sum(ran.values()) < 500 and max(ran.values()) == 1


@pytest.mark.timeout(60)
def test_more_jobs_than_connections_run_every_target_once_and_say_so(
    db_url: str, db: Conn, tmp_path: Path, limited_role: str, sqlmig_log: pytest.LogCaptureFixture
) -> None:
    db.execute(sql.SQL("CREATE TABLE public.log (schema text, what text)"))
    db.execute(sql.SQL("GRANT INSERT ON public.log TO {}").format(sql.Identifier(limited_role)))
    tree(tmp_path, dict(FILES))
    names = [f"t{i}" for i in range(12)]
    report = sqlmig.apply_all(make_conninfo(db_url, user=limited_role), tmp_path, schemas=names, jobs=4)
    assert report.ok, [str(r.error) for r in report.failed][:1]
    assert db.execute("SELECT schema, count(*) FROM public.log GROUP BY schema ORDER BY schema").fetchall() == sorted(
        (name, 1) for name in names
    )
    said = [r.getMessage() for r in sqlmig_log.records if r.levelno == logging.WARNING]
    took = [m for m in said if m.startswith("--jobs 4: ")]
    assert len(took) == 1, said
    # Two, or one while the server still counts the connection that read the targets' histories just before.
    took_two = "--jobs 4: the server took 2 connections; running 2 at a time"
    assert took[0] in (took_two, "--jobs 4: the server took 1 connection; running 1 at a time")


@pytest.mark.timeout(60)
def test_targets_fail_with_the_servers_message_only_when_no_worker_can_connect(
    db_url: str, db: Conn, tmp_path: Path, limited_role: str, sqlmig_log: pytest.LogCaptureFixture
) -> None:
    db.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(limited_role)))
    tree(tmp_path, {SCHEMA: FILES[SCHEMA]})
    url = make_conninfo(db_url, user=limited_role)
    report = up_databases(settings(db_url, tmp_path), [("a", url), ("b", url), ("c", url)], jobs=4)
    assert [r.status for r in report.results] == ["failed"] * 3
    for result in report.results:
        assert f'too many connections for role "{limited_role}"' in str(result.error)
    assert not [r for r in sqlmig_log.records if r.getMessage().startswith("--jobs")]


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
