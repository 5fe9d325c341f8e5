"""Server errors outside a migration's own SQL: a waiting runner whose connection is terminated, a server that
refuses sqlmig's history table (read-only), and a connection lost during a migration's COPY. Each ends as a sqlmig
error that says what happened."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main
from sqlmig.model import TableName
from sqlmig.run.lock import lock_key

from ..helpers import history, tree
from .processes import wait_until

Conn = psycopg.Connection[tuple[object, ...]]
FILES = {"migrate/20240101_000000_create_a.up.sql": "CREATE TABLE public.a (id int);\n"}


def test_waiter_whose_connection_is_terminated_gets_a_connect_error(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    key = lock_key(TableName("public", "migration_history"))
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            sqlmig.apply(db_url, directory, lock_wait=60)
        except BaseException as exc:
            outcome.append(exc)

    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        waiter = threading.Thread(target=run)
        waiter.start()
        query = (
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'sqlmig' AND datname = current_database()"
            " AND query LIKE '%advisory_lock%'"
        )
        pid = wait_until(lambda: (db.execute(query).fetchone() or (None,))[0], timeout=30, what="a lock waiter")
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        waiter.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], sqlmig.ConnectError), outcome
    message = str(outcome[0])
    assert message.startswith("lost the connection to postgresql://")
    # The server's words, as libpq got them: its FATAL message, or, when the socket closed before libpq read it
    # (seen on a loaded machine), that the server closed the connection.
    assert "terminating connection" in message or "server closed the connection unexpectedly" in message
    assert "Run again once the server accepts connections" in message
    assert db.execute("SELECT to_regclass('public.a')").fetchone() == (None,)


def test_read_only_server_refuses_the_history_table(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    db.execute(f'ALTER DATABASE "{db.info.dbname}" SET default_transaction_read_only = on')
    with pytest.raises(sqlmig.DatabaseError) as info:
        sqlmig.apply(db_url, directory)
    assert "refused sqlmig's own work on the history table" in str(info.value) and "25006" in str(info.value)
    assert "read-only" in str(info.value)
    result = CliRunner().invoke(main, ["migrate", "up", "--database-url", db_url, "--dir", str(directory)])
    assert result.exit_code == 5 and "read-only" in result.output
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)


# A trigger that holds a COPY in the server, so that its session can be ended while the COPY runs.
SLOW_TABLE = (
    "CREATE TABLE public.s (id int);\n"
    "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql\n"
    "  AS $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;\n"
    "CREATE TRIGGER slow BEFORE INSERT ON public.s FOR EACH ROW EXECUTE FUNCTION public.slow();\n"
)


def test_connection_lost_during_copy_rolls_back_only_that_migration(db_url: str, db: Conn, tmp_path: Path) -> None:
    """A transactional file with COPY data runs statement by statement in its own transaction: a connection lost
    during its COPY rolls back that migration only (not 'the whole run (--single-transaction)'), and the one
    applied before it in the same run stays committed and is listed as such."""
    directory = tree(
        tmp_path,
        {
            "migrate/20240101_000000_a.up.sql": SLOW_TABLE,
            "migrate/20240102_000000_b.up.sql": "COPY public.s (id) FROM stdin;\n1\n\\.\n",
        },
    )
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            sqlmig.apply(db_url, directory)
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'"
        " AND wait_event = 'PgSleep'"
    )
    pid = wait_until(lambda: (db.execute(query).fetchone() or (None,))[0], timeout=30, what="a COPY in the trigger")
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    runner.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], sqlmig.ConnectionLostError), outcome
    error = outcome[0]
    assert error.outcome == (
        "The server rolled 20240102_000000_b back (it had not reached its COMMIT); it is not recorded."
    )
    assert error.applied == ("20240101_000000_a",)
    assert "--single-transaction" not in str(error) and "whole run" not in str(error)
    assert "applied before the failure in this run: 20240101_000000_a" in str(error)
    assert history(db) == ["20240101_000000_a"]
    assert db.execute("SELECT count(*) FROM public.s").fetchone() == (0,)
