"""Helpers the fan-out tests share: a project in the working directory, a role with a connection limit, sqlmig's
log records, and a command interrupted with Ctrl-C while its targets sleep on the server."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from .helpers import tree

Conn = psycopg.Connection[tuple[object, ...]]

# A tenant project of two migrations: the schema, and a table whose migration logs each target it ran for.
SCHEMA = "migrate/20240101_000000_schema.up.sql"
ITEMS = "migrate/20240102_000000_items.up.sql"
FILES = {
    SCHEMA: "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n",
    ITEMS: (
        "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY);\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items');\n"
    ),
}


def cli_project(
    db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, files: Mapping[str, str]
) -> Path:
    """A project in the working directory (``files`` under migrations/) whose DATABASE_URL is the test's database,
    with the ``public.log`` table the migrations write to."""
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    db.execute("CREATE TABLE public.log (schema text, what text)")
    tree(tmp_path / "migrations", dict(files))
    return tmp_path


@contextmanager
def connection_limited_role(db: Conn, prefix: str, *, write_tables: bool = False) -> Iterator[str]:
    """A login role that owns the test's database and may hold two connections at a time (with ``write_tables``,
    also every table of public); dropped afterwards with what it owns."""
    role = f"{prefix}_{uuid.uuid4().hex[:12]}"
    name = db.execute("SELECT current_database()").fetchone()
    assert name is not None
    db.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 2").format(sql.Identifier(role)))
    try:
        db.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(str(name[0])), sql.Identifier(role)))
        db.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        if write_tables:
            db.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
        yield role
    finally:
        db.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def propagating_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """sqlmig's log records, whether or not an earlier command line stopped them reaching the root logger."""
    monkeypatch.setattr(logging.getLogger("sqlmig"), "propagate", True)
    return caplog


def interrupted(db: Conn, command: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, float]:
    """Run ``command``, press Ctrl-C once two of its statements sleep in ``pg_sleep(8)``, and return its exit code
    and how many seconds it took to exit after that. SIGINT is set back to its default (Python's
    KeyboardInterrupt): a shell without job control starts background commands with it ignored."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(8)%' AND pid <> pg_backend_pid()"
        while db.execute(sleeping).fetchone() != (2,):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        proc.wait(timeout=60)
        return proc.returncode, time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
