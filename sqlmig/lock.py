"""The migration lock: a session-level advisory lock on the migration connection, waited for until a deadline.

The key is the first 8 bytes (big-endian, signed) of SHA-256 over ``sqlmig:<schema>.<table>`` of the history
table, so two projects with different history tables in one database do not block each other. In ``pg_locks`` it
shows as ``locktype = 'advisory'``, ``classid`` = the key's high 32 bits, ``objid`` = its low 32 bits,
``objsubid = 1``; ``sqlmig`` logs the key when it waits.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import tuple_row

from .errors import LockTimeout
from .history import TableName

log = logging.getLogger("sqlmig")

# A waiter first reports who holds the lock after this long, then every _REPORT_EVERY seconds.
_FIRST_REPORT = 1.0
_REPORT_EVERY = 10.0

HOLDER_QUERY = """
SELECT a.pid, a.application_name, a.client_addr::text, a.state,
       date_trunc('second', now() - coalesce(a.xact_start, a.backend_start))::text
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock'
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def lock_key(table: TableName) -> int:
    """The advisory lock key for a history table (see the module docstring)."""
    digest = hashlib.sha256(f"sqlmig:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def describe_holder(conn: psycopg.Connection[tuple[object, ...]], key: int) -> str | None:
    """Who holds the lock: pid, application name, client address, state and age; None if nobody does."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.cursor(row_factory=tuple_row).execute(HOLDER_QUERY, (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
    if row is None:
        return None
    pid, app, addr, state, age = row
    return f"pid {pid} (application_name={app!r}, client={addr or 'local socket'}, state={state}, for {age})"


@contextmanager
def hold(
    conn: psycopg.Connection[tuple[object, ...]],
    table: TableName,
    wait: float,
    recheck: Callable[[], bool] = lambda: True,
) -> Iterator[bool]:
    """Hold the migration lock for the body of the ``with`` block, which gets True; or, when another run held the
    lock and ``recheck()`` (called without the lock once that run is done) says nothing is left to do, False
    without the lock.

    Tries ``pg_try_advisory_lock`` once; if another session holds the lock, waits (see :func:`_wait`), logging
    who holds it after a second and every ten seconds, until ``wait`` seconds have passed; then raises
    :class:`LockTimeout`. The lock is released on exit; if the connection dies, the server releases it.
    """
    key = lock_key(table)
    if not _try(conn, key) and not _wait(conn, key, wait, recheck):
        yield False
        return
    try:
        yield True
    finally:
        _release(conn, key)


def _try(conn: psycopg.Connection[tuple[object, ...]], key: int) -> bool:
    cur = conn.cursor(row_factory=tuple_row)  # the caller's connection may have another row factory
    return bool(cur.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])  # type: ignore[index]


def _wait(conn: psycopg.Connection[tuple[object, ...]], key: int, wait: float, recheck: Callable[[], bool]) -> bool:
    """Wait for the holder to finish; True once this session holds the lock, False when ``recheck()`` finds
    nothing left to do.

    Waiters block in ``pg_advisory_lock_shared``, which the server grants to all of them together the moment the
    holder releases its exclusive lock: when many instances start at once, the ones that find the work done
    return together instead of taking the lock one after another. A waiter with work left tries for the lock
    itself and waits again if another got it first. The shared lock is session-level even inside a transaction,
    so the transaction only scopes ``SET LOCAL lock_timeout``, which bounds each slice of the wait.
    """
    started = time.monotonic()
    report_at = started + _FIRST_REPORT
    while True:
        now = time.monotonic()
        left = started + wait - now
        if left <= 0:
            raise LockTimeout(now - started, describe_holder(conn, key))
        if now >= report_at:
            holder = describe_holder(conn, key) or "a session that just released it"
            log.info("waiting for the migration lock (key %d) held by %s", key, holder)
            report_at = now + _REPORT_EVERY
        slice_ms = max(1, math.ceil(min(left, report_at - now) * 1000))  # 0 would mean no timeout at all
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{slice_ms}ms",))
                conn.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            continue
        conn.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
        if not recheck():
            return False
        if _try(conn, key):
            return True


def _release(conn: psycopg.Connection[tuple[object, ...]], key: int) -> None:
    if conn.closed or conn.broken:
        return  # the server released the lock with the session
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    except psycopg.OperationalError:
        log.debug("could not release the migration lock; the server releases it when the session ends")
