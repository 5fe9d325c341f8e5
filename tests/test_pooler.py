"""Pooler detection against a real PgBouncer: transaction mode is refused before anything runs, session mode works.

Each server under test gets one PgBouncer per pool mode, with a ``*`` database entry so every test's fresh
database is reachable through it. The bouncer URLs carry a password that PgBouncer ignores (``auth_type =
trust``), so the tests can check it is never printed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

import sqlmig
from sqlmig.cli import exits
from sqlmig.cli.commands import main
from sqlmig.errors import ConfigError, PoolerError
from sqlmig.run import pooler

from .helpers import history, relations, tree
from .pgbouncer import POOL_SIZE, Bouncer, pgbouncer
from .pgcluster import PgServer

# Runs on every PostgreSQL major (docs/testing.md): the pooler check may differ between majors.
pytestmark = pytest.mark.core

PASSWORD = "s3cret"
A = "20240101_000000_create_a"
B = "20240102_000000_create_b"
FILES = {
    f"migrate/{A}.up.sql": "CREATE TABLE public.a (id int);\n",
    f"migrate/{A}.down.sql": "DROP TABLE public.a;\n",
    f"migrate/{B}.up.sql": "CREATE TABLE public.b (id int);\nINSERT INTO public.b VALUES (1);\n",
    f"migrate/{B}.down.sql": "DROP TABLE public.b;\n",
}
ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
Conn = psycopg.Connection[tuple[object, ...]]


@pytest.fixture(scope="module")
def transaction_bouncer(pg_server: PgServer) -> Iterator[Bouncer]:
    with pgbouncer(pg_server, "transaction") as bouncer:
        yield bouncer


@pytest.fixture(scope="module")
def session_bouncer(pg_server: PgServer) -> Iterator[Bouncer]:
    with pgbouncer(pg_server, "session") as bouncer:
        yield bouncer


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with ``migrations/`` and no database URL in the environment."""
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path / "migrations", FILES)
    return tmp_path


def through(bouncer: Bouncer, db_url: str) -> str:
    """The URL of the test's database through ``bouncer``, with a password."""
    return bouncer.url(str(conninfo_to_dict(db_url)["dbname"]), password=PASSWORD)


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_apply_through_transaction_mode_is_refused_before_anything_runs(
    db_url: str, db: Conn, transaction_bouncer: Bouncer, project: Path
) -> None:
    url = through(transaction_bouncer, db_url)
    with pytest.raises(PoolerError) as err:
        sqlmig.apply(url, "migrations")
    message = str(err.value)
    assert isinstance(err.value, ConfigError) and exits.exit_code(err.value) == 5
    assert PASSWORD not in message
    assert f"postgres:***@127.0.0.1:{transaction_bouncer.port}/" in message
    assert "DIRECT_URL" in message and "session-mode pooler" in message and "advisory lock" in message
    assert relations(db) == set()  # not even the history table
    assert db.execute(ADVISORY_LOCKS).fetchone() == (0,)


def test_rollback_and_accept_through_transaction_mode_are_refused(
    db_url: str, db: Conn, transaction_bouncer: Bouncer, project: Path
) -> None:
    assert len(sqlmig.apply(db_url, "migrations")) == 2
    url = through(transaction_bouncer, db_url)
    with pytest.raises(PoolerError):
        sqlmig.rollback(url, "migrations")
    (project / f"migrations/migrate/{A}.up.sql").write_text("CREATE TABLE public.a (id bigint);\n")
    with pytest.raises(PoolerError):
        sqlmig.accept(url, "migrations")
    assert history(db) == [A, B] and {"a", "b"} <= relations(db)


def test_cli_through_transaction_mode_exits_5_with_the_fix(
    db_url: str, db: Conn, transaction_bouncer: Bouncer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = through(transaction_bouncer, db_url)
    result = run("migrate", "up", "--database-url", url)
    assert result.exit_code == 5
    assert result.output.startswith("error: the database URL postgresql://postgres:***@127.0.0.1:")
    assert "Set DIRECT_URL (or SQLMIG_DATABASE_URL) to a direct connection" in result.output
    assert PASSWORD not in result.output

    monkeypatch.setenv("DATABASE_URL", url)
    result = run("migrate", "up")
    assert result.exit_code == 5 and "DIRECT_URL" in result.output and PASSWORD not in result.output
    assert relations(db) == set()


def test_direct_url_is_preferred_over_database_url(
    db_url: str, db: Conn, transaction_bouncer: Bouncer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", through(transaction_bouncer, db_url))
    monkeypatch.setenv("DIRECT_URL", db_url)
    result = run("migrate", "up")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Applied 2 migrate migration(s)."
    assert history(db) == [A, B]
    assert sqlmig.rollback(None, "migrations").names == (B,)
    assert history(db) == [A]


def test_repeated_no_op_runs_through_transaction_mode(db_url: str, transaction_bouncer: Bouncer, project: Path) -> None:
    assert len(sqlmig.apply(db_url, "migrations")) == 2
    url = through(transaction_bouncer, db_url)
    for _ in range(8):
        assert len(sqlmig.status(url, "migrations", tracks=["migrate"]).pending) == 0
        assert not sqlmig.apply(url, "migrations")


def test_caller_connection_that_prepares_statements_hops_servers_safely(
    db_url: str, transaction_bouncer: Bouncer, project: Path
) -> None:
    assert len(sqlmig.apply(db_url, "migrations")) == 2
    url = through(transaction_bouncer, db_url)
    # Another client holds a server connection during every other call, so the caller's connection lands on a
    # different server each time: a statement prepared on one would be missing on the next.
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn, psycopg.connect(url) as pin:
        for i in range(8):
            if i % 2 == 0:
                pin.execute("SELECT 1")
            else:
                pin.commit()
            assert len(sqlmig.status(conn, "migrations", tracks=["migrate"]).pending) == 0
            assert not sqlmig.apply(conn, "migrations")
        assert conn.prepare_threshold == 0  # restored


def test_caller_connection_through_transaction_mode_is_refused(
    db_url: str, db: Conn, transaction_bouncer: Bouncer, project: Path
) -> None:
    with psycopg.connect(through(transaction_bouncer, db_url), autocommit=False) as conn:
        with pytest.raises(PoolerError) as err:
            sqlmig.apply(conn, "migrations")
        assert f"the connection passed to sqlmig (127.0.0.1:{transaction_bouncer.port})" in str(err.value)
        assert "DIRECT_URL" in str(err.value) and PASSWORD not in str(err.value)
        assert conn.execute("SELECT 1").fetchone() == (1,) and not conn.autocommit
    assert relations(db) == set()


def test_session_mode_apply_rollback_accept_work(
    db_url: str, db: Conn, session_bouncer: Bouncer, project: Path
) -> None:
    url = through(session_bouncer, db_url)
    assert sqlmig.apply(url, "migrations").names == (A, B)
    assert db.execute(ADVISORY_LOCKS).fetchone() == (0,)
    assert sqlmig.rollback(url, "migrations").names == (B,)
    (project / f"migrations/migrate/{A}.up.sql").write_text("CREATE TABLE public.a (id bigint);\n")
    assert sqlmig.accept(url, "migrations") == [A]
    assert history(db) == [A]
    assert db.execute(ADVISORY_LOCKS).fetchone() == (0,)


def test_session_mode_releases_the_lock_on_the_open_connection(
    db_url: str, db: Conn, session_bouncer: Bouncer, project: Path
) -> None:
    # PgBouncer's reset query (DISCARD ALL) would also release it, but only when the client disconnects.
    with psycopg.connect(through(session_bouncer, db_url), autocommit=True) as conn:
        assert pooler.check(conn, None) is None
        assert sqlmig.apply(conn, "migrations").names == (A, B)
        assert db.execute(ADVISORY_LOCKS).fetchone() == (0,)
        assert history(db) == [A, B]


def test_full_session_pool_does_not_hang_the_check(
    db_url: str, session_bouncer: Bouncer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pooler, "PROBE_TIMEOUT", 0.5)
    url = through(session_bouncer, db_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        others = [psycopg.connect(url, autocommit=True) for _ in range(POOL_SIZE - 1)]
        try:
            for other in others:  # now the pool is full: the probe's query would queue
                other.execute("SELECT 1")
            started = time.monotonic()
            assert pooler.check(conn, url) is None
            assert time.monotonic() - started < 3
        finally:
            for other in others:
                other.close()


def test_direct_connection_is_not_flagged(db_url: str, db: Conn) -> None:
    assert pooler.check(db, db_url) is None
    assert pooler.check(db, None) is None


@pytest.mark.parametrize(
    ("port", "hint"),
    [(6543, "Supabase's transaction-mode pooler"), (6432, "PgBouncer's default port"), (5432, None)],
    ids=["supavisor", "pgbouncer", "other"],
)
def test_message_names_well_known_pooler_ports(port: int, hint: str | None) -> None:
    message = pooler._message(f"postgresql://app:pw-123@db.example.com:{port}/app", "db.example.com", port)
    assert f"postgresql://app:***@db.example.com:{port}/app" in message and "pw-123" not in message
    assert "port 5432" in message  # Supabase's session mode, the fix
    assert (hint in message) if hint else ("port 6" not in message)
