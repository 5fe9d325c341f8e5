"""sqlmig's own work around each migration: the history write and the progress of no-transaction files, the
session state every migration starts in (role included), the migration lock, and lost connections. Each failure
is reported as what it is, with exit code 5, and says only what is true of the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig import render
from sqlmig.cli import exits
from sqlmig.cli.commands import main

from .faults.processes import wait_until
from .helpers import history, relations, tree

# Runs on every PostgreSQL major (docs/testing.md): the history tail and the lock check may differ between majors.
pytestmark = pytest.mark.core

A = "migrate/20240101_000000_create_log"
B = "migrate/20240102_000000_b"
C = "migrate/20240103_000000_c"
NAME_A, NAME_B, NAME_C = (p.rsplit("/", 1)[1] for p in (A, B, C))
CREATE_LOG = "CREATE TABLE public.log (what text);\n"
Conn = psycopg.Connection[tuple[object, ...]]


def log_rows(db: Conn) -> int:
    return int(db.execute("SELECT count(*) FROM public.log").fetchone()[0])  # type: ignore[index]


def test_blocked_progress_write_is_sqlmigs_failure_and_resume_runs_the_statement_once(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG})
    sqlmig.apply(db_url, tmp_path)
    body = (
        "-- sqlmig: no-transaction\nINSERT INTO public.log VALUES ('once');\nINSERT INTO public.log VALUES ('2') -- end"
    )
    tree(tmp_path, {f"{B}.up.sql": body})
    with psycopg.connect(db_url, application_name="history-reader") as reader:
        reader.execute("LOCK public.migration_history IN SHARE MODE")
        with pytest.raises(sqlmig.BookkeepingError) as info:
            sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=1)
        err = info.value
        message = str(err)
        assert exits.exit_code(err) == 5 and err.sqlstate == "55P03" and err.statement == ""
        assert f"sqlmig could not record the progress of {NAME_B} in the history table public.migration_history" in (
            message
        )
        assert f"pid {reader.info.backend_pid} (application_name='history-reader'" in message  # still holding it
        assert "Statement 1 (line 2) was rolled back together with its progress record" in message
        assert "none of its statements is recorded, and up runs it from the start" in message
        assert log_rows(db) == 0
        result = CliRunner().invoke(
            main,
            ["migrate", "up", "--database-url", db_url, "--dir", str(tmp_path), "--lock-timeout", "100ms"],
        )
        assert result.exit_code == 5, result.output
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert log_rows(db) == 2 and history(db) == [NAME_A, NAME_B]


def test_blocked_progress_write_after_completed_statements_resumes_after_them(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG})
    sqlmig.apply(db_url, tmp_path)
    body = (
        "-- sqlmig: no-transaction\n"
        "INSERT INTO public.log VALUES ('one');\n"
        "SELECT pg_sleep(0.5);\n"
        "INSERT INTO public.log VALUES ('two');\n"
    )
    tree(tmp_path, {f"{B}.up.sql": body})
    with psycopg.connect(db_url) as reader:

        def lock_history() -> None:
            wait_until(
                lambda: db.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.5)%'"
                ).fetchone()[0],  # type: ignore[index]
                timeout=20,
                what="the second statement",
            )
            reader.execute("LOCK public.migration_history IN SHARE MODE")

        locker = threading.Thread(target=lock_history)
        locker.start()
        with pytest.raises(sqlmig.BookkeepingError) as info:
            sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=0)
        locker.join()
    message = str(info.value)
    assert "Statement 2 (line 3) was rolled back together with its progress record" in message
    assert "its first 1 statement(s) stay applied and are recorded as done; up continues at statement 2 (line 3)" in (
        message
    )
    assert log_rows(db) == 1
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert log_rows(db) == 2


def test_statement_that_runs_outside_a_transaction_and_cannot_be_recorded_says_so(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG})
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{B}.up.sql": "-- sqlmig: no-transaction\nVACUUM public.log;\nSELECT 1;\n"})
    with psycopg.connect(db_url) as reader:
        reader.execute("LOCK public.migration_history IN SHARE MODE")
        with pytest.raises(sqlmig.BookkeepingError) as info:
            sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=0)
    message = str(info.value)
    assert "Statement 1 (line 2) completed, but it runs outside a transaction, so it could not be recorded" in message
    assert "none of its statements is recorded, and up runs it from the start" in message
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)


@pytest.mark.parametrize("mode", ["transactional", "no-transaction"])
def test_last_statement_ending_in_a_line_comment_does_not_hide_the_history_write(
    db_url: str, db: Conn, tmp_path: Path, mode: str
) -> None:
    head = "-- sqlmig: no-transaction\n" if mode == "no-transaction" else ""
    tree(tmp_path, {f"{A}.up.sql": f"{head}CREATE TABLE public.a (id int);\nCREATE TABLE public.b (id int) -- the end"})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_A,)
    assert {"a", "b"} <= relations(db)


@pytest.fixture
def role(db: Conn, db_url: str) -> Iterator[str]:
    name = f"mig_{db_url.rsplit('_', 1)[-1][:12]}"
    db.execute(f'CREATE ROLE "{name}" NOLOGIN')
    db.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{name}"')
    try:
        yield name
    finally:
        db.execute(f'DROP OWNED BY "{name}"')
        db.execute(f'DROP ROLE "{name}"')


def owner(db: Conn, table: str) -> str:
    return str(db.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,)).fetchone()[0])  # type: ignore[index]


@pytest.mark.parametrize("setting", ["SET ROLE", "SET SESSION AUTHORIZATION"])
@pytest.mark.parametrize("mode", ["transactional", "streamed", "no-transaction"])
def test_role_set_by_a_migration_does_not_carry_over(
    db_url: str, db: Conn, tmp_path: Path, role: str, setting: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "streamed":
        monkeypatch.setattr(render, "STREAM_THRESHOLD", 10)
    head = "-- sqlmig: no-transaction\n" if mode == "no-transaction" else ""
    body = f'{head}{setting} "{role}";\nCREATE TABLE public.a (id int);\nCREATE TABLE public.a2 (id int);\n'
    tree(tmp_path, {f"{A}.up.sql": body, f"{B}.up.sql": "CREATE TABLE public.b (id int);\n"})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_A, NAME_B)
    me = str(db.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    assert (owner(db, "a"), owner(db, "a2"), owner(db, "b")) == (role, role, me)
    executed_by = db.execute("SELECT executed_by FROM public.migration_history ORDER BY id").fetchall()
    assert executed_by == [(me,), (me,)]


def test_role_option_and_a_files_own_role_both_end_with_the_migration(
    db_url: str, db: Conn, tmp_path: Path, role: str
) -> None:
    body = f'-- sqlmig: no-transaction\nSET ROLE "{role}";\nCREATE TABLE public.a (id int);\n'
    tree(tmp_path, {f"{A}.up.sql": body, f"{B}.up.sql": "CREATE TABLE public.b (id int);\n"})
    with psycopg.connect(db_url, autocommit=True) as conn:
        sqlmig.apply(conn, tmp_path)
        assert conn.execute("SELECT current_user = session_user").fetchone() == (True,)
    assert owner(db, "b") != role


def test_migration_that_releases_the_lock_is_rolled_back(db_url: str, db: Conn, tmp_path: Path) -> None:
    body = (
        "CREATE TABLE public.a (id int);\n"
        "CREATE FUNCTION public.tidy() RETURNS boolean LANGUAGE sql AS 'SELECT pg_advisory_unlock_all() IS NULL';\n"
        "SELECT public.tidy();\n"
    )
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG, f"{B}.up.sql": body})
    with pytest.raises(sqlmig.BookkeepingError) as info:
        sqlmig.apply(db_url, tmp_path)
    message = str(info.value)
    assert exits.exit_code(info.value) == 5 and info.value.applied == (NAME_A,)
    assert f"{NAME_B} released sqlmig's migration lock (key " in message
    assert "another run could have started alongside it" in message
    assert f"{NAME_B} was rolled back and is not recorded: the database is as it was before it." in message
    assert "a" not in relations(db) and history(db) == [NAME_A]
    assert db.execute("SELECT to_regprocedure('public.tidy()')").fetchone() == (None,)


def test_no_transaction_statement_that_releases_the_lock_is_rolled_back(db_url: str, db: Conn, tmp_path: Path) -> None:
    # Through a function: a statement that calls pg_advisory_unlock_all() itself is refused before anything runs.
    release = "CREATE FUNCTION public.release() RETURNS void LANGUAGE sql AS $$SELECT pg_advisory_unlock_all()$$;\n"
    body = "-- sqlmig: no-transaction\nINSERT INTO public.log SELECT 'x' WHERE public.release() IS NULL;\n"
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG + release, f"{B}.up.sql": body})
    with pytest.raises(sqlmig.BookkeepingError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert "released sqlmig's migration lock" in str(info.value)
    assert "Statement 1 (line 2) was rolled back together with its progress record" in str(info.value)
    assert log_rows(db) == 0 and history(db) == [NAME_A]


@pytest.mark.parametrize(
    ("damage", "sqlstate"),
    [
        ("DROP TABLE public.migration_history", "42P01"),
        ("ALTER TABLE public.migration_history RENAME TO old_history", "42P01"),
        ("SET TRANSACTION READ ONLY", "25006"),
    ],
    ids=["dropped", "renamed", "read-only"],
)
@pytest.mark.parametrize("mode", ["transactional", "streamed"])
def test_migration_that_breaks_the_history_table_is_sqlmigs_failure(
    db_url: str, db: Conn, tmp_path: Path, damage: str, sqlstate: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "streamed":
        monkeypatch.setattr(render, "STREAM_THRESHOLD", 10)
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG})
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{B}.up.sql": f"CREATE TABLE public.b (id int);\n{damage};\n"})
    before = relations(db)
    result = CliRunner().invoke(main, ["migrate", "up", "--database-url", db_url, "--dir", str(tmp_path)])
    assert result.exit_code == 5, result.output
    assert f"sqlmig could not record {NAME_B} in the history table public.migration_history" in result.output
    assert f"(SQLSTATE {sqlstate})" in result.output and "(while committing)" not in result.output
    assert f"{NAME_B} was rolled back and is not recorded: the database is as it was before it." in result.output
    assert relations(db) == before and history(db) == [NAME_A]


def test_single_transaction_run_whose_history_write_fails_is_rolled_back_whole(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    damage = "CREATE TABLE public.b (id int);\nDROP TABLE public.migration_history;\n"
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG, f"{B}.up.sql": "CREATE TABLE public.x (id int);\n"})
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{C}.up.sql": damage, "migrate/20240104_000000_d.up.sql": "CREATE TABLE public.d (id int);\n"})
    args = ["migrate", "up", "--database-url", db_url, "--dir", str(tmp_path), "--single-transaction", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 5, result.output
    error = json.loads(result.stdout.splitlines()[-1])["error"]
    assert (error["type"], error["sqlstate"], error["statement"]) == ("BookkeepingError", "42P01", "")
    assert (
        error["outcome"] == "The whole run was rolled back (--single-transaction): the database is as it was before it."
    )
    assert {"b", "d"}.isdisjoint(relations(db)) and history(db) == [NAME_A, NAME_B]


def _terminate_when_sleeping(db: Conn, target: Path, body: str) -> BaseException:
    outcome: list[BaseException] = []
    url = db.info.dsn

    def run() -> None:
        try:
            sqlmig.apply(url, target)
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    # Sleeping, not just sent: the file goes as one script, whose text shows while its first statement still runs.
    sleeping = (
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
        " AND wait_event = 'PgSleep'"
    )
    pid = wait_until(lambda: (db.execute(sleeping).fetchone() or (None,))[0], timeout=30, what="the sleeping migration")
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    runner.join(30)
    assert len(outcome) == 1, outcome
    return outcome[0]


def test_terminated_migration_is_a_lost_connection(db_url: str, db: Conn, tmp_path: Path) -> None:
    body = "CREATE TABLE public.a (id int);\nSELECT pg_sleep(60);\n"
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG, f"{B}.up.sql": body})
    err = _terminate_when_sleeping(db, tmp_path, body)
    assert isinstance(err, sqlmig.ConnectionLostError), err
    message = str(err)
    assert exits.exit_code(err) == 5 and err.applied == (NAME_A,) and err.line == 2
    assert f"{B}.up.sql:2:1: the connection to the server was lost while {NAME_B} ran" in message
    assert "terminating connection" in message and "statement: SELECT pg_sleep(60)" in message
    assert f"The server rolled {NAME_B} back (it had not reached its COMMIT); it is not recorded." in message
    assert "(while committing)" not in message
    assert "a" not in relations(db) and history(db) == [NAME_A]


def test_no_transaction_file_whose_connection_is_lost_says_what_stays(db_url: str, db: Conn, tmp_path: Path) -> None:
    body = "-- sqlmig: no-transaction\nINSERT INTO public.log VALUES ('once');\nSELECT pg_sleep(60);\n"
    tree(tmp_path, {f"{A}.up.sql": CREATE_LOG, f"{B}.up.sql": body})
    err = _terminate_when_sleeping(db, tmp_path, body)
    assert isinstance(err, sqlmig.ConnectionLostError), err
    message = str(err)
    assert "The server rolled statement 2 (line 3) back." in message
    assert "its first 1 statement(s) stay applied and are recorded as done; up continues at statement 2 (line 3)" in (
        message
    )
    assert "rolled the migration back" not in message and "(while committing)" not in message
    tree(tmp_path, {f"{B}.up.sql": body.replace("pg_sleep(60)", "pg_sleep(0)")})
    assert sqlmig.apply(db_url, tmp_path).names == (NAME_B,)
    assert log_rows(db) == 1


def test_no_transaction_copy_whose_connection_is_lost_names_the_copy(db_url: str, db: Conn, tmp_path: Path) -> None:
    # A trigger holds the COPY (statement 2, line 3) on the server until its session is ended.
    slow = (
        "CREATE TABLE public.s (id int);\nCREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;\n"
        "CREATE TRIGGER slow BEFORE INSERT ON public.s FOR EACH ROW EXECUTE FUNCTION public.slow();\n"
    )
    # 10 MB of data (a streamed file): the server stops reading it while the trigger sleeps, so the connection is
    # lost while the data is being written.
    copy = "COPY public.s (id) FROM stdin;\n" + "1\n" * 5_000_000 + "\\.\n"
    body = "-- sqlmig: no-transaction\nCREATE TABLE public.other (id int);\n" + copy
    tree(tmp_path, {f"{A}.up.sql": slow, f"{B}.up.sql": body})
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    args = [sys.executable, "-m", "sqlmig", "migrate", "up", "--database-url", db_url, "--dir", str(tmp_path)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            copying = (
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'"
                " AND wait_event = 'PgSleep'"
            )
            pid = wait_until(lambda: (db.execute(copying).fetchone() or (None,))[0], timeout=30, what="the COPY")
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 5, stderr
    assert "statement: COPY public.s (id) FROM stdin" in stderr
    assert (
        f"The server rolled statement 2 (line 3) back. {NAME_B} runs without a transaction: its first 1 statement(s) "
        "stay applied and are recorded as done; up continues at statement 2 (line 3)." in stderr
    )
    assert "statement 1 (line 3)" not in stderr and "error ignored" not in stderr, stderr
    assert history(db) == [NAME_A, NAME_B] and "other" in relations(db)  # B as partial
    progress = "SELECT statements_done, resume_line FROM public.migration_history WHERE name = %s"
    assert db.execute(progress, (NAME_B,)).fetchone() == (1, 3)
