"""The migration lock: a session-level advisory lock on the migration connection, polled until a deadline.

The key is the first 8 bytes (big-endian, signed) of SHA-256 over ``sqlmig:<schema>.<table>`` of the history
table, so two projects with different history tables in one database do not block each other. In ``pg_locks`` it
shows as ``locktype = 'advisory'``, ``classid`` = the key's high 32 bits, ``objid`` = its low 32 bits,
``objsubid = 1``; ``sqlmig`` logs the key when it waits.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import tuple_row

from .errors import LockTimeout
from .history import TableName

log = logging.getLogger("sqlmig")

# How long a waiting process sleeps between tries: short at first (most runs finish quickly), then longer.
_FIRST_POLL = 0.02
_MAX_POLL = 0.5
_REPORT_EVERY = 10.0

HOLDER_QUERY = """
SELECT a.pid, a.application_name, a.client_addr::text, a.state,
       date_trunc('second', now() - coalesce(a.xact_start, a.backend_start))::text
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
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
def hold(conn: psycopg.Connection[tuple[object, ...]], table: TableName, wait: float) -> Iterator[None]:
    """Hold the migration lock for the body of the ``with`` block.

    Polls ``pg_try_advisory_lock`` until ``wait`` seconds have passed, logging who holds the lock while it waits,
    then raises :class:`LockTimeout`. The lock is released on exit; if the connection dies, the server releases
    it. ``lock_timeout`` does not apply: the wait is polled, never blocked.
    """
    key = lock_key(table)
    started = time.monotonic()
    delay = _FIRST_POLL
    next_report = started + 1.0
    cur = conn.cursor(row_factory=tuple_row)  # the caller's connection may have another row factory
    while not cur.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
        now = time.monotonic()
        if now - started >= wait:
            raise LockTimeout(now - started, describe_holder(conn, key))
        if now >= next_report:
            holder = describe_holder(conn, key) or "a session that just released it"
            log.info("waiting for the migration lock (key %d) held by %s", key, holder)
            next_report = now + _REPORT_EVERY
        time.sleep(min(delay, max(0.0, started + wait - now)))
        delay = min(delay * 2, _MAX_POLL)
    try:
        yield
    finally:
        _release(conn, key)


def _release(conn: psycopg.Connection[tuple[object, ...]], key: int) -> None:
    if conn.closed or conn.broken:
        return  # the server released the lock with the session
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    except psycopg.OperationalError:
        log.debug("could not release the migration lock; the server releases it when the session ends")
