"""How sessions wait for the migration lock: idle, with no transaction and no snapshot that ``CREATE INDEX
CONCURRENTLY`` and its kin would wait for; woken together by the holder's notification; and still noticing,
by trying every half second, a holder that ended without notifying."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from sqlmig.model import TableName
from sqlmig.run import lock

from .processes import wait_until
from .waiting import watching_waiters

# Runs on every PostgreSQL major (docs/testing.md): the lock wait may differ between majors.
pytestmark = pytest.mark.core

Conn = psycopg.Connection[tuple[object, ...]]
TABLE = TableName("public", "migration_history")
KEY = lock.lock_key(TABLE)
# Any statement a waiter runs lasts milliseconds (more on a loaded machine); a transaction open longer than this
# is one it waits in. A waiter inside a transaction would be seen in one for over a second.
LONGEST_TRANSACTION = 0.75


class Waiters:
    """``count`` sessions in threads, each in ``lock.hold(…, recheck=recheck)``, leaving its body at once;
    ``outcomes`` holds what each got (None until it did)."""

    def __init__(self, url: str, count: int, recheck: Callable[[], bool] = lambda: True) -> None:
        self.conns = [psycopg.connect(url, autocommit=True) for _ in range(count)]
        self.pids = [c.info.backend_pid for c in self.conns]
        self.outcomes: list[bool | None] = [None] * count
        self.threads = [threading.Thread(target=self._wait, args=(i, recheck)) for i in range(count)]
        for t in self.threads:
            t.start()

    def _wait(self, i: int, recheck: Callable[[], bool]) -> None:
        with lock.hold(self.conns[i], TABLE, 60, recheck=recheck) as held:
            self.outcomes[i] = held

    def join(self) -> None:
        for t in self.threads:
            t.join(30)
        for c in self.conns:
            c.close()
        assert not any(t.is_alive() for t in self.threads), "a waiter did not return"


@contextmanager
def holding(url: str) -> Iterator[Conn]:
    """Another sqlmig run holding the lock for the ``with`` block: it notifies the waiters when it is done."""
    with psycopg.connect(url, autocommit=True) as conn, lock.hold(conn, TABLE, 5) as held:
        assert held
        yield conn


def oldest_transaction(db: Conn, pids: list[int]) -> float:
    """Seconds since the oldest transaction or snapshot of any of ``pids`` began (0 when none has one)."""
    row = db.execute(
        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8"
        " FROM pg_stat_activity WHERE pid = ANY(%s) AND (xact_start IS NOT NULL OR backend_xmin IS NOT NULL)",
        (pids,),
    ).fetchone()
    assert row is not None
    return float(str(row[0]))


def test_waiters_hold_no_transaction_while_they_wait(db_url: str, db: Conn) -> None:
    """Sampled for two and a half seconds (past the first report, after a second), no waiter is ever seen in a
    transaction older than a statement takes."""
    with holding(db_url):
        waiters = Waiters(db_url, 4)
        try:
            ages = []
            until = time.monotonic() + 2.5
            while time.monotonic() < until:
                ages.append(oldest_transaction(db, waiters.pids))
                time.sleep(0.02)
            assert waiters.outcomes == [None] * 4
        except BaseException:
            db.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (waiters.pids,))
            raise
    waiters.join()
    assert max(ages) < LONGEST_TRANSACTION, f"a waiter stayed in a transaction for {max(ages):.2f}s"
    assert waiters.outcomes == [True] * 4  # the default recheck: there is work; each took the lock in turn


@pytest.mark.parametrize("ending", ["terminated", "unlocked"])
def test_a_holder_that_ends_without_notifying_is_noticed(ending: str, db_url: str, db: Conn) -> None:
    """A holder killed (its session terminated) or one that releases the lock without notifying (an older
    sqlmig, or another tool using the key): the waiter takes the lock on its next try."""
    with watching_waiters() as listening, psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (KEY,))
        waiter = Waiters(db_url, 1)
        wait_until(lambda: listening.count() == 1, timeout=20, what="the waiter to listen")
        if ending == "terminated":
            db.execute("SELECT pg_terminate_backend(%s)", (other.info.backend_pid,))
        else:
            other.execute("SELECT pg_advisory_unlock(%s)", (KEY,))
        waiter.join()
    assert waiter.outcomes == [True]


def test_many_waiters_are_released_together_by_the_notification(
    db_url: str, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty-two waiters that find the work done return without the lock, each after one recheck, with no
    try of their own after the release (polling is put off for the test)."""
    monkeypatch.setattr(lock, "_POLL", 60.0)
    monkeypatch.setattr(lock, "_FIRST_REPORT", 60.0)
    checks: list[int] = []

    def recheck() -> bool:
        checks.append(1)
        return False

    with watching_waiters() as listening:
        with holding(db_url):
            waiters = Waiters(db_url, 32, recheck)
            wait_until(lambda: listening.count() == 32, timeout=30, what="32 waiters to listen")
        waiters.join()
    assert waiters.outcomes == [False] * 32 and len(checks) == 32
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)


def test_the_connection_stops_listening_before_it_is_used(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection passed in keeps its own LISTEN, and is not left listening on the lock's channel, whether it
    got the lock or returned without it."""
    monkeypatch.setattr(lock, "_POLL", 60.0)  # released by the notification, never by a try of its own
    monkeypatch.setattr(lock, "_FIRST_REPORT", 60.0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("LISTEN app_events")
        for done in (False, True):  # done: the holder did the work
            with holding(db_url):
                outcome: list[bool] = []

                def wait(done: bool = done, outcome: list[bool] = outcome) -> None:
                    with lock.hold(conn, TABLE, 30, recheck=lambda: not done) as held:
                        outcome.append(held)
                        channels = conn.execute("SELECT pg_listening_channels()").fetchall()
                        outcome.append(channels == [("app_events",)])

                with watching_waiters() as listening:
                    thread = threading.Thread(target=wait)
                    thread.start()
                    wait_until(lambda: listening.count() == 1, timeout=20, what="the waiter to listen")
            thread.join(30)
            assert outcome == [not done, True]
        assert conn.execute("SELECT pg_listening_channels()").fetchall() == [("app_events",)]


def test_the_docs_name_the_key_and_the_channel() -> None:
    """What docs/history-and-lock.md tells an operator to look for in pg_locks and pg_notify is what sqlmig uses."""
    section = (Path(__file__).resolve().parents[2] / "docs" / "history-and-lock.md").read_text(encoding="utf-8")
    unsigned = KEY & 0xFFFFFFFFFFFFFFFF
    assert f"`{KEY}`" in section and f"classid = {unsigned >> 32}" in section
    assert f"objid = {unsigned & 0xFFFFFFFF}" in section
    assert f"`{lock.channel(KEY)}`" in section
