"""Server errors in sqlmig's own work (the history table, the migration lock), not in a migration's SQL: each is
reported as what it is, with its SQLSTATE, and the advice about privileges or a read-only server appears only
where that is the cause."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import sqlmig
from sqlmig import config
from sqlmig.cli import exits
from sqlmig.run.connection import connect

from ..helpers import tree
from .processes import wait_until

Conn = psycopg.Connection[tuple[object, ...]]
FIRST = {"migrate/20240101_000000_create_a.up.sql": "CREATE TABLE public.a (id int);\n"}
SECOND = {"migrate/20240102_000000_create_b.up.sql": "CREATE TABLE public.b (id int);\n"}
# An advisory lock of the application's own, held by the connection it passes to sqlmig.
APP_KEY = 4242
# Words of the advice for a refused privilege or a read-only server.
PRIVILEGE_ADVICE = "privilege"
READ_ONLY_ADVICE = ("standby", "read-only")


def waiting_for_advisory_lock(db: Conn, pid: int) -> bool:
    row = db.execute(
        "SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'advisory' AND NOT granted", (pid,)
    ).fetchone()
    return row == (1,)


def test_a_deadlock_in_sqlmigs_own_work_is_reported_as_a_deadlock(db_url: str, db: Conn, tmp_path: Path) -> None:
    """The caller's connection holds an advisory lock of its own; another session locks the history table and
    waits for that lock; sqlmig's read of the history table closes the cycle, and the server ends it."""
    directory = tree(tmp_path, FIRST)
    sqlmig.apply(db_url, directory)
    tree(tmp_path, SECOND)
    with psycopg.connect(db_url, autocommit=True) as caller, psycopg.connect(db_url) as other:
        caller.execute("SELECT pg_advisory_lock(%s)", (APP_KEY,))
        caller.execute("SET deadlock_timeout = '100ms'")  # this session notices the cycle, not the other one
        other.execute("SET deadlock_timeout = '60s'")
        other.execute("LOCK TABLE public.migration_history IN ACCESS EXCLUSIVE MODE")
        blocked = threading.Thread(target=other.execute, args=("SELECT pg_advisory_lock(%s)", (APP_KEY,)))
        blocked.start()
        pid = other.info.backend_pid
        wait_until(lambda: waiting_for_advisory_lock(db, pid), timeout=20, what="the other session to wait")
        try:
            with pytest.raises(sqlmig.DatabaseError) as info:
                sqlmig.apply(caller, directory)
        finally:
            caller.execute("SELECT pg_advisory_unlock(%s)", (APP_KEY,))
            blocked.join(20)
            other.rollback()
    message = str(info.value)
    assert message.startswith("the given connection: deadlock detected in sqlmig's own work"), message
    assert "(SQLSTATE 40P01)" in message and "Run again" in message
    assert PRIVILEGE_ADVICE not in message and not any(w in message for w in READ_ONLY_ADVICE), message
    assert exits.exit_code(info.value) == 5
    assert db.execute("SELECT to_regclass('public.b')").fetchone() == (None,)


def test_a_missing_privilege_is_reported_as_one(db_url: str, db: Conn, tmp_path: Path) -> None:
    """A role that may not create tables in the public schema (PostgreSQL 15's default for non-owners): the
    history table cannot be created."""
    directory = tree(tmp_path, FIRST)
    role = f"no_create_{db.info.dbname[-12:]}"
    db.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    db.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    try:
        with psycopg.connect(db_url, autocommit=True) as caller:
            caller.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            with pytest.raises(sqlmig.DatabaseError) as info:
                sqlmig.apply(caller, directory)
    finally:
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    message = str(info.value)
    assert "refused sqlmig's own work" in message and "(SQLSTATE 42501)" in message, message
    assert PRIVILEGE_ADVICE in message and not any(w in message for w in READ_ONLY_ADVICE), message
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("sqlstate", "says"),
    [
        ("40001", "serialization failure in sqlmig's own work"),
        ("55P03", "not granted in time"),
        ("57014", "was cancelled"),
        ("53100", "ran out of a resource"),
        ("57P01", "the server stopped sqlmig's own work"),
        ("XX000", "the server refused sqlmig's own work"),
    ],
)
def test_other_server_errors_say_what_they_are(sqlstate: str, says: str, db_url: str) -> None:
    """Raised by the server with that SQLSTATE inside sqlmig's connection: reported with the SQLSTATE and what it
    means, never with the advice for a missing privilege or a read-only server."""
    settings = config.load(database_url=db_url)
    raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'raised for the test' USING ERRCODE = '{sqlstate}'; END $$"
    with pytest.raises(sqlmig.DatabaseError) as info, connect(None, settings) as conn:
        conn.execute(raise_it)
    message = str(info.value)
    assert says in message and f"(SQLSTATE {sqlstate}): raised for the test" in message, message
    assert PRIVILEGE_ADVICE not in message and not any(w in message for w in READ_ONLY_ADVICE), message
