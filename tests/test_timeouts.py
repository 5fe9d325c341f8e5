"""Per-migration lock_timeout and statement_timeout, retries with the blocking session named, --role and --wait."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import sqlmig
from sqlmig.model import TableName
from sqlmig.run.lock import lock_key

from .helpers import history, relations, tree

A = "migrate/20240101_000000_create_a"
B = "migrate/20240102_000000_alter_a"
Conn = psycopg.Connection[tuple[object, ...]]


@contextmanager
def blocker(db_url: str, release_after: float | None = None) -> Iterator[int]:
    """A session that reads public.a in an open transaction (holding ACCESS SHARE on it), like a slow report.
    With ``release_after``, it commits after that many seconds."""
    conn = psycopg.connect(db_url, application_name="slow-report")
    conn.execute("SELECT count(*) FROM public.a")
    pid = conn.info.backend_pid
    timer = threading.Timer(release_after, conn.commit) if release_after is not None else None
    if timer:
        timer.start()
    try:
        yield pid
    finally:
        if timer:
            timer.join()
        conn.close()


def setup_a(db_url: str, tmp_path: Path, alter: str = "ALTER TABLE public.a ADD COLUMN b int;\n") -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n"})
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{B}.up.sql": alter})


def test_lock_timeout_retries_then_names_the_blocker(
    db_url: str, db: Conn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup_a(db_url, tmp_path)
    caplog.set_level(logging.INFO, logger="sqlmig")
    with blocker(db_url) as pid, pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=2)
    err = info.value
    assert (err.sqlstate, err.line, err.rolled_back) == ("55P03", 1, True)
    assert "tried 3 time(s) with lock_timeout=100ms" in (err.detail or "")
    assert f"pid {pid} (application_name='slow-report', state=idle in transaction" in (err.detail or "")
    assert "SELECT count(*) FROM public.a" in (err.detail or "") and "pg_terminate_backend" in (err.hint or "")
    assert len([r for r in caplog.records if "trying again" in r.message]) == 2
    assert "b" not in {
        c for (c,) in db.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'public.a'::regclass")
    }
    assert history(db) == ["20240101_000000_create_a"]


def test_blocker_that_finishes_lets_a_retry_succeed(
    db_url: str, db: Conn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup_a(db_url, tmp_path)
    caplog.set_level(logging.INFO, logger="sqlmig")
    with blocker(db_url, release_after=0.3):
        report = sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=5)
    assert report.names == ("20240102_000000_alter_a",)
    assert any("trying again" in r.message for r in caplog.records)


def test_single_transaction_run_is_retried_whole(db_url: str, db: Conn, tmp_path: Path) -> None:
    setup_a(db_url, tmp_path)
    tree(tmp_path, {"migrate/20240103_000000_create_c.up.sql": "CREATE TABLE public.c (id int);\n"})
    with blocker(db_url, release_after=0.3):
        report = sqlmig.apply(db_url, tmp_path, single_transaction=True, lock_timeout="100ms", lock_retries=5)
    assert len(report) == 2 and "c" in relations(db)


def test_directives_override_the_limits(db_url: str, db: Conn, tmp_path: Path) -> None:
    setup_a(db_url, tmp_path, "-- sqlmig: lock-timeout=50ms, lock-retries=0\nALTER TABLE public.a ADD COLUMN b int;\n")
    started = time.monotonic()
    with blocker(db_url), pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, lock_timeout="10s", lock_retries=5)
    assert info.value.sqlstate == "55P03" and "tried 1 time(s) with lock_timeout=50ms" in (info.value.detail or "")
    assert time.monotonic() - started < 5


def test_statement_timeout_says_how_to_raise_it(db_url: str, db: Conn, tmp_path: Path) -> None:
    setup_a(db_url, tmp_path, "-- sqlmig: statement-timeout=100ms\nSELECT pg_sleep(2);\n")
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.sqlstate == "57014"
    assert "statement_timeout is 100ms" in (info.value.hint or "") and "statement-timeout=2h" in (info.value.hint or "")


def test_limits_hold_for_the_migration_only(db_url: str, db: Conn, tmp_path: Path) -> None:
    body = (
        "CREATE TABLE public.seen AS\n"
        "SELECT current_setting('lock_timeout') AS l, current_setting('statement_timeout') AS s;\n"
    )
    setup_a(db_url, tmp_path, body)
    with psycopg.connect(db_url, autocommit=True) as conn:
        sqlmig.apply(conn, tmp_path)
        after = conn.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')").fetchone()
    assert db.execute("SELECT l, s FROM public.seen").fetchone() == ("5s", "1h")
    assert after == ("0", "0")


def test_lock_timeout_never_applies_to_the_migration_lock(db_url: str, db: Conn, tmp_path: Path) -> None:
    setup_a(db_url, tmp_path)
    key = lock_key(TableName("public", "migration_history"))
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        threading.Timer(0.5, holder.execute, ("SELECT pg_advisory_unlock(%s)", (key,))).start()
        report = sqlmig.apply(db_url, tmp_path, lock_timeout="50ms", lock_retries=0, lock_wait=10)
        time.sleep(0.6)
    assert report.names == ("20240102_000000_alter_a",)


def test_role_owns_what_migrations_create(db_url: str, db: Conn, tmp_path: Path) -> None:
    role = f"owner_{db_url.rsplit('_', 1)[-1][:12]}"
    db.execute(f'CREATE ROLE "{role}" NOLOGIN')
    db.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
    try:
        tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\nCREATE TABLE public.b (id int);\n"})
        sqlmig.apply(db_url, tmp_path, role=role)
        owners = db.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename IN ('a', 'b')").fetchall()
        assert owners == [(role,)]
        history_owner = db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'migration_history'").fetchone()
        assert history_owner == ("postgres",)
        with pytest.raises(sqlmig.ConfigError, match="no such role"):
            sqlmig.apply(db_url, tmp_path, role="no_such_role_here")
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')


@contextmanager
def late_proxy(target_url: str, delay: float) -> Iterator[str]:
    """A URL whose port starts forwarding to ``target_url``'s server only after ``delay`` seconds, like a
    database container that is still starting: until then connections to it are refused."""
    parts = urlsplit(target_url)
    stop = threading.Event()
    # Bound now, so that no other process can take the port during the delay; it accepts only once listening.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = int(server.getsockname()[1])

    def relay(client: socket.socket, upstream: socket.socket) -> None:
        # One thread owns both sockets of a connection: two threads, one per direction, would close a socket
        # the other is still reading (EBADF).
        with client, upstream, selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    try:
                        chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not chunk:
                            return
                        key.data.sendall(chunk)
                    except OSError:
                        return

    def serve() -> None:
        with server:
            if stop.wait(delay):
                return
            server.listen()
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection((parts.hostname, parts.port))
                threading.Thread(target=relay, args=(client, upstream), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
    finally:
        stop.set()
        thread.join()


@pytest.mark.newest  # sqlmig's own retries while the server starts
def test_wait_for_a_server_that_is_not_up_yet(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n"})
    with late_proxy(db_url, 2.0) as url:
        with pytest.raises(sqlmig.ConnectError, match="wait for it with --wait SECONDS"):
            sqlmig.apply(url, tmp_path)
        assert sqlmig.apply(url, tmp_path, wait=60).names == ("20240101_000000_create_a",)
    with late_proxy(db_url, 120.0) as url, pytest.raises(sqlmig.ConnectError, match=r"waited 0\.5s"):
        sqlmig.apply(url, tmp_path, wait=0.5)


def test_cli_limit_options(db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from sqlmig.cli.commands import main

    setup_a(db_url, tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["migrate", "up", "--dir", str(tmp_path), "--database-url", db_url]
    with blocker(db_url) as pid:
        result = CliRunner().invoke(main, [*args, "--lock-timeout", "50ms", "--lock-retries", "0"])
    assert result.exit_code == 1 and "SQLSTATE 55P03" in result.output and f"pid {pid}" in result.output
    bad = CliRunner().invoke(main, [*args, "--lock-timeout", "soon"])
    assert bad.exit_code == 5 and "lock_timeout must be a duration" in bad.output
    result = CliRunner().invoke(main, [*args, "--role", "no_such_role_here", "--wait", "1"])
    assert result.exit_code == 5 and "--role no_such_role_here: no such role" in result.output


def test_limits_from_pyproject(tmp_path: Path) -> None:
    from sqlmig import config

    (tmp_path / "pyproject.toml").write_text(
        '[tool.sqlmig]\nlock_timeout = "2s"\nstatement_timeout = "10min"\nlock_retries = 1\n'
        'invalid_index = "refuse"\nrole = "app_owner"\nwait = 30\n'
    )
    settings = config.load(cwd=tmp_path, environ={})
    assert (settings.lock_timeout, settings.statement_timeout, settings.lock_retries) == ("2s", "10min", 1)
    assert (settings.invalid_index, settings.role, settings.wait) == ("refuse", "app_owner", 30.0)
    assert config.load(cwd=tmp_path, environ={}, lock_timeout="0", lock_retries=0).lock_timeout == "0"
    for key, value in [("lock_retries", "-1"), ("invalid_index", '"keep"'), ("statement_timeout", '"forever"')]:
        (tmp_path / "pyproject.toml").write_text(f"[tool.sqlmig]\n{key} = {value}\n")
        with pytest.raises(sqlmig.ConfigError, match=key):
            config.load(cwd=tmp_path, environ={})


def test_failed_no_transaction_file_gives_the_connection_back_clean(db_url: str, tmp_path: Path) -> None:
    setup_a(db_url, tmp_path, "-- sqlmig: no-transaction\nSELECT 1;\nSELECT 1/0;\n")
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(sqlmig.MigrationError):
            sqlmig.apply(conn, tmp_path, lock_timeout="7s")
        settings = conn.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        assert settings.fetchone() == ("0", "0")
