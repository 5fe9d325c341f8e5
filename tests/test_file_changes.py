"""A file that changes between discovery and execution (here: while the run waits for the migration lock) is
refused with a clear error and nothing of it runs; the checksum recorded is that of exactly the text that ran."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

import sqlmig
from sqlmig.files import discover
from sqlmig.model import TableName
from sqlmig.render import STREAM_THRESHOLD, TemplateContext, render
from sqlmig.run.lock import lock_key
from sqlmig.run.stream import items_of

from .helpers import relations, tree

Conn = psycopg.Connection[tuple[object, ...]]
UP = "migrate/20240101_000001_items.up.sql"
KEY = lock_key(TableName("public", "migration_history"))


def _apply_while_locked(db_url: str, db: Conn, directory: Path, change: Callable[[], None]) -> BaseException | None:
    """Hold the migration lock, start apply() in a thread, make ``change`` once the run has discovered its files
    and connected, then release the lock; return what apply() raised."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            sqlmig.apply(db_url, directory)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (KEY,))
        before = {row[0] for row in db.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")}
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 30
        # Discovery happens before the connection is opened: once the run's session shows, the files were read.
        while time.monotonic() < deadline:
            now = db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> ALL(%s)",
                (list(before),),
            ).fetchall()
            if now:
                break
            time.sleep(0.02)
        else:
            pytest.fail("apply() never connected")
        time.sleep(0.3)  # let it reach the lock
        change()
        holder.execute("SELECT pg_advisory_unlock(%s)", (KEY,))
    thread.join(60)
    assert not thread.is_alive()
    return outcome[0]


@pytest.mark.parametrize("templated", [False, True], ids=["plain", "template"])
def test_a_file_edited_during_the_lock_wait_is_refused(db_url: str, db: Conn, tmp_path: Path, templated: bool) -> None:
    name = "{{ 'items' }}" if templated else "items"
    directory = tree(tmp_path / "m", {UP: f"CREATE TABLE public.{name} (id int);\n"})
    path = directory / UP

    error = _apply_while_locked(db_url, db, directory, lambda: path.write_text("CREATE TABLE public.other (id int);\n"))

    assert isinstance(error, sqlmig.DiscoveryError)
    assert str(path) in str(error) and "edited while sqlmig was running" in str(error)
    assert "nothing of it was applied" in str(error)
    assert relations(db) == set()  # not even the history table: nothing runs before every file is checked
    # Run again with the file as it now is: its new text runs, and its new checksum is recorded.
    sqlmig.apply(db_url, directory)
    assert "other" in relations(db) and "items" not in relations(db)
    recorded = db.execute("SELECT checksum FROM public.migration_history").fetchone()
    assert recorded == (discover(directory, "migrate")[0].up.checksum,)


def test_a_file_deleted_during_the_lock_wait_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path / "m", {UP: "CREATE TABLE public.items (id int);\n"})
    path = directory / UP

    error = _apply_while_locked(db_url, db, directory, path.unlink)

    assert isinstance(error, sqlmig.DiscoveryError)
    assert f"{path}: was deleted while sqlmig was running" in str(error)
    assert relations(db) == set()


def _big(table: str) -> str:
    """A file above the 4 MiB from which migrations are streamed from disk as they run."""
    rows = "".join(f"INSERT INTO public.{table} VALUES ({i}, '{'x' * 500}');\n" for i in range(9000))
    return f"CREATE TABLE public.{table} (id int, pad text);\n{rows}"


def test_a_streamed_file_edited_during_the_lock_wait_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path / "m", {UP: _big("items")})
    path = directory / UP
    assert path.stat().st_size > STREAM_THRESHOLD

    error = _apply_while_locked(db_url, db, directory, lambda: path.write_text(_big("other")))

    assert isinstance(error, sqlmig.DiscoveryError)
    assert f"{path}: was edited while sqlmig was running" in str(error)
    assert "nothing of it was applied" in str(error)
    assert relations(db) == set()


@pytest.mark.parametrize("transactional", [True, False], ids=["transactional", "no-transaction"])
def test_a_streamed_file_edited_while_it_runs_is_not_recorded(tmp_path: Path, transactional: bool) -> None:
    head = "" if transactional else "-- sqlmig: no-transaction\n"
    directory = tree(tmp_path / "m", {UP: head + _big("items")})
    path = directory / UP
    (file,) = discover(directory, "migrate")
    migration = render(file, "up", TemplateContext())
    assert migration.sql is None  # streamed
    items = items_of(migration, None)
    next(items)
    time.sleep(0.05)  # past the clock tick of the file's first write
    with path.open("a") as fh:
        fh.write("DROP TABLE public.items;\n")
    with pytest.raises(sqlmig.DiscoveryError) as info:
        for _ in items:
            pass
    message = str(info.value)
    assert f"{path}: was edited while sqlmig was running it" in message
    if transactional:
        assert "what this migration did so far is rolled back and it is not recorded" in message
    else:
        assert "its statements that ran stay applied (it runs without a transaction)" in message


def test_a_streamed_file_deleted_during_the_lock_wait_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path / "m", {UP: _big("items")})
    path = directory / UP

    error = _apply_while_locked(db_url, db, directory, path.unlink)

    assert isinstance(error, sqlmig.DiscoveryError)
    assert f"{path}: was deleted while sqlmig was running" in str(error)
    assert relations(db) == set()


def test_a_streamed_file_rewritten_with_the_same_size_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path / "m", {UP: _big("items")})
    path = directory / UP
    same_size = _big("itemz")
    assert len(same_size) == len(_big("items"))

    def rewrite() -> None:
        time.sleep(0.05)  # past the clock tick of the file's first write
        path.write_text(same_size)

    error = _apply_while_locked(db_url, db, directory, rewrite)

    assert isinstance(error, sqlmig.DiscoveryError)
    assert f"{path}: was edited while sqlmig was running" in str(error)
    assert "itemz" not in relations(db) and "items" not in relations(db)
