"""Many application instances starting at once: every migration runs exactly once, no instance fails."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from sqlmig.model import TableName
from sqlmig.run import lock

from .faults.waiting import watching_waiters
from .helpers import tree

# Runs on every PostgreSQL major (docs/testing.md): the migration lock may differ between majors.
pytestmark = pytest.mark.core

# Each process waits for the same moment, then calls apply() as an application would at start-up.
WORKER = """
import sys, time
import sqlmig
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
report = sqlmig.apply(sys.argv[1], sys.argv[2])
print(len(report))
"""


def test_sixteen_processes_apply_at_once(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {}
    for i in range(20):
        files[f"migrate/20240101_{i:06d}_t{i}.up.sql"] = (
            f"CREATE TABLE public.t{i} (id int);\nINSERT INTO public.t{i} VALUES ({i});\n"
        )
    directory = tree(tmp_path / "migrations", files)
    start = time.time() + 3.0  # enough for 16 interpreters to import sqlmig on 2 cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, str(directory), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    failures = [(p.returncode, err) for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert failures == []
    applied_counts = sorted(int(out.strip()) for out, _ in outputs)
    assert sum(applied_counts) == 20  # every migration applied by exactly one process
    rows = db.execute("SELECT name, count(*) FROM public.migration_history GROUP BY name").fetchall()
    assert len(rows) == 20 and all(count == 1 for _, count in rows)
    for i in range(20):
        assert db.execute(f"SELECT count(*) FROM public.t{i}").fetchone() == (1,)
    # No advisory lock is left behind.
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)


KEY_TABLE = TableName("public", "migration_history")
Conn = psycopg.Connection[tuple[object, ...]]


def _lock_modes(db: Conn, pid: int) -> list[str]:
    rows = db.execute(
        "SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s ORDER BY mode", (pid,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_waiters_that_find_the_work_done_all_return_without_the_lock(
    db_url: str, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Released together by the holder's notification, each rechecks once and never takes the lock itself."""
    # No polling and no report during the test: the release must reach the waiters by the notification alone.
    monkeypatch.setattr(lock, "_POLL", 60.0)
    monkeypatch.setattr(lock, "_FIRST_REPORT", 60.0)
    waiters = [psycopg.connect(db_url, autocommit=True) for _ in range(4)]
    outcomes: list[tuple[bool, list[str]]] = []
    checks: list[int] = []

    def wait(conn: Conn) -> None:
        with lock.hold(conn, KEY_TABLE, 30, recheck=lambda: bool(checks.append(1))) as held:
            outcomes.append((held, _lock_modes(db, conn.info.backend_pid)))

    with watching_waiters() as listening, psycopg.connect(db_url, autocommit=True) as holder:
        with lock.hold(holder, KEY_TABLE, 5) as held:
            assert held
            threads = [threading.Thread(target=wait, args=(w,)) for w in waiters]
            for t in threads:
                t.start()
            _until(lambda: listening.count() == len(waiters))
            assert outcomes == []
        for t in threads:
            t.join(30)
    assert outcomes == [(False, [])] * 4 and len(checks) == 4
    for w in waiters:
        w.close()


def test_waiters_with_work_left_take_the_lock_one_at_a_time(db_url: str, db: Conn) -> None:
    waiters = [psycopg.connect(db_url, autocommit=True) for _ in range(3)]
    inside: list[int] = []
    overlaps: list[int] = []

    def wait(conn: Conn) -> None:
        with lock.hold(conn, KEY_TABLE, 30) as held:
            assert held and _lock_modes(db, conn.info.backend_pid) == ["ExclusiveLock"]
            inside.append(conn.info.backend_pid)
            overlaps.append(len(inside))
            time.sleep(0.2)
            inside.remove(conn.info.backend_pid)

    with watching_waiters() as listening, psycopg.connect(db_url, autocommit=True) as holder:
        with lock.hold(holder, KEY_TABLE, 5):
            threads = [threading.Thread(target=wait, args=(w,)) for w in waiters]
            for t in threads:
                t.start()
            _until(lambda: listening.count() == len(waiters))
        for t in threads:
            t.join(30)
    assert overlaps == [1, 1, 1]
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
    for w in waiters:
        w.close()
