"""no-transaction files that stop part-way: progress in the history, resume at the failed statement, INVALID
indexes left by CREATE INDEX CONCURRENTLY, and a run killed in the middle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main

from .helpers import history, tree

# Runs on every PostgreSQL major (docs/testing.md): resumption and INVALID indexes may differ between majors.
pytestmark = pytest.mark.core

A = "migrate/20240101_000000_create_a"
B = "migrate/20240102_000000_index_a"
NAME_B = "20240102_000000_index_a"
CREATE_A = "CREATE TABLE public.a (id int, x int);\nINSERT INTO public.a VALUES (1, 1), (2, 1);\n"
Conn = psycopg.Connection[tuple[object, ...]]


def progress(db: Conn, name: str = NAME_B) -> tuple[object, ...] | None:
    row = db.execute(
        "SELECT statements_done, resume_line, done_checksum IS NOT NULL FROM public.migration_history WHERE name = %s",
        (name,),
    ).fetchone()
    return row


def index_valid(db: Conn, name: str) -> bool | None:
    row = db.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", (name,)
    ).fetchone()
    return None if row is None else bool(row[0])


def test_failed_statement_is_resumed_after_the_fix(db_url: str, db: Conn, tmp_path: Path) -> None:
    first = "-- sqlmig: no-transaction\nINSERT INTO public.log VALUES ('first');\n"
    tree(
        tmp_path,
        {
            f"{A}.up.sql": CREATE_A + "CREATE TABLE public.log (what text);\n",
            f"{B}.up.sql": first + "CREATE INDEX CONCURRENTLY a_y ON public.a (y);\nSELECT 1;\n",
        },
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert (info.value.line, info.value.sqlstate, info.value.resumable) == (3, "42703", True)
    assert progress(db) == (1, 3, True)
    entry = sqlmig.status(db_url, tmp_path).entries[1]
    assert (entry.state, entry.stopped_at, entry.stopped_line) == ("partial", 2, 3)
    shown = CliRunner().invoke(main, ["migrate", "status", "--database-url", db_url, "--dir", str(tmp_path)])
    assert f"partial  {NAME_B}   stopped at statement 2 (line 3); up continues there" in shown.output
    assert "1 pending, 0 need attention." in shown.output

    tree(tmp_path, {f"{B}.up.sql": first + "CREATE INDEX CONCURRENTLY a_x ON public.a (x);\nSELECT 1;\n"})
    report = sqlmig.apply(db_url, tmp_path)
    assert report.names == (NAME_B,)
    assert db.execute("SELECT count(*) FROM public.log").fetchone() == (1,)  # the first statement did not run again
    assert progress(db) == (None, None, False) and index_valid(db, "a_x")
    assert [e.state for e in sqlmig.status(db_url, tmp_path).entries] == ["applied", "applied"]
    assert history(db) == ["20240101_000000_create_a", NAME_B]


def test_edited_completed_statement_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": CREATE_A,
            f"{B}.up.sql": "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY a_id ON public.a (id);\nSELECT 1/0;\n",
        },
    )
    with pytest.raises(sqlmig.MigrationError):
        sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{B}.up.sql": "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY a_i ON public.a (id);\n"})
    with pytest.raises(sqlmig.DriftError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert "stopped after 1 completed statement(s), and those were edited" in str(info.value)
    assert "line 3" in str(info.value) and info.value.names == (NAME_B,)
    assert progress(db) == (1, 3, True) and index_valid(db, "a_i") is None


UNIQUE_X = "-- sqlmig: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY a_x_key ON public.a (x);\n"


@pytest.mark.parametrize("action", ["drop", "refuse"])
def test_invalid_index_from_failed_concurrent_build(db_url: str, db: Conn, tmp_path: Path, action: str) -> None:
    tree(tmp_path, {f"{A}.up.sql": CREATE_A, f"{B}.up.sql": UNIQUE_X})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.sqlstate == "23505"
    assert index_valid(db, "a_x_key") is False  # what PostgreSQL leaves behind
    db.execute("UPDATE public.a SET x = id")  # the operator fixes the data
    if action == "refuse":
        with pytest.raises(sqlmig.PlanError) as refused:
            sqlmig.apply(db_url, tmp_path, invalid_index="refuse")
        message = str(refused.value)
        assert f"{B}.up.sql:2" in message and "INVALID index(es) public.a_x_key" in message
        assert "DROP INDEX CONCURRENTLY" in message and index_valid(db, "a_x_key") is False
        return
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert index_valid(db, "a_x_key") is True


def test_unnamed_concurrent_index_with_invalid_leftover_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    unnamed = "-- sqlmig: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY ON public.a (x);\n"
    tree(tmp_path, {f"{A}.up.sql": CREATE_A, f"{B}.up.sql": unnamed})
    with pytest.raises(sqlmig.MigrationError):
        sqlmig.apply(db_url, tmp_path)
    with pytest.raises(sqlmig.PlanError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert "has no index name" in str(info.value) and "a_x_idx" in str(info.value)


def test_partial_migration_can_be_rolled_back(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": CREATE_A,
            f"{B}.up.sql": "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY a_id ON public.a (id);\nSELECT 1/0;\n",
            f"{B}.down.sql": "-- sqlmig: no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS public.a_id;\n",
        },
    )
    with pytest.raises(sqlmig.MigrationError):
        sqlmig.apply(db_url, tmp_path)
    assert sqlmig.rollback(db_url, tmp_path).names == (NAME_B,)
    assert history(db) == ["20240101_000000_create_a"] and index_valid(db, "a_id") is None


def _wait_for(db: Conn, query: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not db.execute(query).fetchone()[0]:  # type: ignore[index]
        assert time.monotonic() < deadline, f"timed out waiting for: {query}"
        time.sleep(0.05)


def test_run_killed_mid_file_resumes_without_repeating(db_url: str, db: Conn, tmp_path: Path) -> None:
    body = (
        "-- sqlmig: no-transaction\n"
        "INSERT INTO public.log VALUES ('once');\n"
        "SELECT pg_sleep(60);\n"
        "CREATE INDEX CONCURRENTLY a_id ON public.a (id);\n"
    )
    tree(tmp_path, {f"{A}.up.sql": CREATE_A + "CREATE TABLE public.log (what text);\n", f"{B}.up.sql": body})
    code = f"import sqlmig; sqlmig.apply({db_url!r}, {str(tmp_path)!r})"
    runner = subprocess.Popen([sys.executable, "-c", code])
    try:
        _wait_for(db, "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'")
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'"
    )  # the server would notice the dead client only when the sleep ends
    _wait_for(db, "SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory'")
    assert progress(db) == (1, 3, True)

    tree(tmp_path, {f"{B}.up.sql": body.replace("pg_sleep(60)", "pg_sleep(0)")})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert db.execute("SELECT count(*) FROM public.log").fetchone() == (1,)
    assert index_valid(db, "a_id") and progress(db) == (None, None, False)


@pytest.mark.parametrize(
    "backfill",
    [
        "DO $$ BEGIN INSERT INTO public.t VALUES (1); COMMIT; INSERT INTO public.t VALUES (2); END $$;\n",
        "CREATE PROCEDURE public.fill() LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.t VALUES (1); COMMIT;"
        " INSERT INTO public.t VALUES (2); END $$;\nCALL public.fill();\n",
    ],
    ids=["do", "call"],
)
def test_do_block_or_procedure_that_commits_runs_as_in_autocommit(
    db_url: str, db: Conn, tmp_path: Path, backfill: str
) -> None:
    # The usual backfill in batches: psql runs it, since each statement of a file runs in autocommit.
    tree(tmp_path, {f"{B}.up.sql": "-- sqlmig: no-transaction\nCREATE TABLE public.t (id int);\n" + backfill})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (2,)
    assert history(db) == [NAME_B] and progress(db) == (None, None, False)


def test_first_statement_failing_after_a_commit_in_its_code_says_nothing_is_recorded(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    procedure = (
        "CREATE TABLE public.t (id int);\nCREATE PROCEDURE public.fill() LANGUAGE plpgsql AS $$ BEGIN"
        " INSERT INTO public.t VALUES (1); COMMIT; INSERT INTO public.t VALUES ('x'); END $$;\n"
    )
    tree(tmp_path, {f"{A}.up.sql": procedure, f"{B}.up.sql": "-- sqlmig: no-transaction\nCALL public.fill();\n"})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    message = str(info.value)
    assert (info.value.line, info.value.sqlstate) == (2, "22P02")
    assert "partial" not in message and "statements before this one" not in message
    assert (
        f"If statement 1 committed part of its work before it failed (a COMMIT in its code), that part stays "
        f"applied: make it safe to repeat. {NAME_B} runs without a transaction: none of its statements is recorded, "
        "and up runs it from the start. Fix statement 1 (line 2) and run up again." in message
    )
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (1,)  # committed by the procedure
    assert progress(db) is None and sqlmig.status(db_url, tmp_path).pending[0].state == "pending"


def test_failure_in_the_files_own_transaction_block_says_which_statements_were_rolled_back(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    head = "-- sqlmig: no-transaction\nCREATE TABLE public.t (id int);\nBEGIN;\nINSERT INTO public.t VALUES (1);\n"
    tree(tmp_path, {f"{B}.up.sql": head + "INSERT INTO public.t VALUES ('x');\nCOMMIT;\n"})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    message = str(info.value)
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (0,)  # the block's INSERT was rolled back
    assert "statements before this one stay applied" not in message
    assert (
        "Statements 2 to 4 (lines 3 to 5) ran in the file's own transaction block, and the server rolled them all "
        f"back. {NAME_B} runs without a transaction: its first 1 statement(s) stay applied and are recorded as done; "
        "up continues at statement 2 (line 3). Fix statement 4 (line 5) and run up again ('status' shows it as "
        "partial)." in message
    )
    assert progress(db) == (1, 3, True)

    tree(tmp_path, {f"{B}.up.sql": head + "INSERT INTO public.t VALUES (2);\nCOMMIT;\n"})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert db.execute("SELECT id FROM public.t ORDER BY id").fetchall() == [(1,), (2,)]
    assert history(db) == [NAME_B] and progress(db) == (None, None, False)


@pytest.mark.parametrize("first", ["BEGIN;\n", "SELECT 1;\nBEGIN;\n"], ids=["block-first", "block-second"])
def test_files_own_transaction_block_ended_by_rollback_is_recorded(
    db_url: str, db: Conn, tmp_path: Path, first: str
) -> None:
    # The progress row written inside the block is rolled back with it: what follows must write it again.
    body = f"-- sqlmig: no-transaction\n{first}CREATE TABLE public.x (id int);\nROLLBACK;\nSELECT 1;\n"
    tree(tmp_path, {f"{B}.up.sql": body})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert history(db) == [NAME_B] and progress(db) == (None, None, False)
    assert sqlmig.apply(db_url, tmp_path).names == ()
