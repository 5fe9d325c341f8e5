"""The migration lock: a session-level advisory lock on the migration connection, waited for until a deadline.

The key is the first 8 bytes (big-endian, signed) of SHA-256 over ``sqlmig:<schema>.<table>`` of the history
table, so two projects with different history tables in one database do not block each other. In ``pg_locks`` it
shows as ``locktype = 'advisory'``, ``classid`` = the key's high 32 bits, ``objid`` = its low 32 bits,
``objsubid = 1``; ``sqlmig`` logs the key when it waits.

A session that finds the lock taken waits idle, with no transaction and no snapshot: ``CREATE INDEX
CONCURRENTLY``, ``REINDEX … CONCURRENTLY`` and their kin, run by the holder, wait for other sessions'
transactions, so a waiter inside one (even a single statement blocked in ``pg_advisory_lock``) would be waited
for while it waits for the holder: a deadlock. Waiters ``LISTEN`` on the channel ``sqlmig_lock_<key as 16 hex
digits, unsigned>``, which the holder notifies once it has released the lock, and try for the lock every half
second besides, for a holder that never notifies (killed, or an older sqlmig).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import LockTimeout
from ..model import Conn, TableName

log = logging.getLogger("sqlmig")

# A waiter first reports who holds the lock after this long, then every _REPORT_EVERY seconds.
_FIRST_REPORT = 1.0
_REPORT_EVERY = 10.0
# How often a waiter tries for the lock when no notification came: how late it notices a holder that ended
# without notifying. Jittered, so that a fleet started together does not poll in step.
_POLL = 0.5

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


def channel(key: int) -> str:
    """The channel a lock holder notifies when it releases the lock with ``key`` (see the module docstring)."""
    return f"sqlmig_lock_{key & 0xFFFFFFFFFFFFFFFF:016x}"


def describe_holder(conn: Conn, key: int) -> str | None:
    """Who holds the lock: pid, application name, client address, state and age; None if nobody does."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.cursor(row_factory=tuple_row).execute(HOLDER_QUERY, (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
    if row is None:
        return None
    pid, app, addr, state, age = row
    return f"pid {pid} (application_name={app!r}, client={addr or 'local socket'}, state={state}, for {age})"


@contextmanager
def hold(conn: Conn, table: TableName, wait: float, recheck: Callable[[], bool] = lambda: True) -> Iterator[bool]:
    """Hold the migration lock for the body of the ``with`` block, which gets True; or, when another run held the
    lock and ``recheck()`` (called without the lock once that run is done) says nothing is left to do, False
    without the lock.

    Tries ``pg_try_advisory_lock`` once; if another session holds the lock, waits (see :func:`_wait`), logging
    who holds it after a second and every ten seconds, until ``wait`` seconds have passed; then raises
    :class:`LockTimeout`. ``conn`` must be in autocommit mode. The lock is released on exit, and the waiters
    notified; if the connection dies, the server releases the lock.
    """
    key = lock_key(table)
    if not _try(conn, key) and not _wait(conn, key, wait, recheck):
        yield False
        return
    try:
        # Held twice: the check that a migration did not release it gives one back and takes it again, which
        # must never leave it free (see sqlmig.run.bookkeeping.lock_check). The second time never waits.
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield True
    finally:
        _release(conn, key)


def _try(conn: Conn, key: int) -> bool:
    cur = conn.cursor(row_factory=tuple_row)  # the caller's connection may have another row factory
    return bool(cur.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])  # type: ignore[index]


def _wait(conn: Conn, key: int, wait: float, recheck: Callable[[], bool]) -> bool:
    """Wait for the holder to finish; True once this session holds the lock, False when ``recheck()`` finds
    nothing left to do.

    The session waits idle in ``LISTEN``, so every waiter wakes on the holder's one notification, at once: when
    many instances start together, the ones that find the work done return together instead of taking the lock
    one after another. A waiter with work left tries for the lock and waits again if another got it first.
    Between notifications it tries every half second, which is how a holder that ended without notifying is
    noticed. Only short statements run while waiting, each in its own implicit transaction.
    """
    listening = channel(key)
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(listening)))
    try:
        with _last_word(conn):
            held = _listening(conn, key, listening, wait, recheck)
    except BaseException:
        if not conn.closed and not conn.broken:
            try:
                _unlisten(conn, listening)
            except psycopg.Error:  # the error on its way out says more
                log.debug("could not UNLISTEN %s", listening, exc_info=True)
        raise
    _unlisten(conn, listening)  # before the connection runs migrations, or goes back to the caller
    return held


def _listening(conn: Conn, key: int, listening: str, wait: float, recheck: Callable[[], bool]) -> bool:
    started = time.monotonic()
    report_at = started + _FIRST_REPORT
    # A release between the first try and LISTEN notified nobody: so try again before the first wait.
    released = False
    while True:
        if released and not recheck():
            return False
        if _try(conn, key):
            return True
        now = time.monotonic()
        left = started + wait - now
        if left <= 0:
            raise LockTimeout(now - started, describe_holder(conn, key))
        if now >= report_at:
            holder = describe_holder(conn, key) or "a session that just released it"
            log.info("waiting for the migration lock (key %d) held by %s", key, holder)
            report_at = now + _REPORT_EVERY
        timeout = min(left, report_at - now, _POLL * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy
        log.debug("listening on %s for the release of the migration lock", listening)
        # Idle until a notification or the timeout: no transaction, no snapshot. A notification on another channel
        # that a connection passed in listens on is consumed here, and only makes this waiter try again.
        notes = list(conn.notifies(timeout=timeout, stop_after=1))
        released = any(n.channel == listening for n in notes)


@contextmanager
def _last_word(conn: Conn) -> Iterator[None]:
    """Raise the server's own error when it closes the connection while the session sits idle.

    The server's last message (FATAL 57P01 for pg_terminate_backend() or a shutdown) then reaches libpq as a
    notice, and the error raised says only that the server closed the connection, "probably" abnormally."""
    fatal: list[tuple[str | None, str | None]] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "FATAL":  # read now: the notice's fields are gone once this returns
            fatal.append((diag.sqlstate, diag.message_primary))

    conn.add_notice_handler(keep)
    try:
        yield
    except psycopg.OperationalError as exc:
        if exc.sqlstate or not fatal or not (conn.broken or conn.closed):
            raise
        sqlstate, message = fatal[-1]
        try:
            cls = psycopg.errors.lookup(sqlstate or "")
        except KeyError:
            cls = psycopg.OperationalError
        raise cls(message or str(exc)) from exc
    finally:
        conn.remove_notice_handler(keep)


def _unlisten(conn: Conn, listening: str) -> None:
    conn.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(listening)))


def _release(conn: Conn, key: int) -> None:
    if conn.closed or conn.broken:
        return  # the server released the lock with the session
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        # One autocommit statement: the notification goes out when it commits, after the lock is released (it is
        # held twice, see hold()).
        conn.execute(
            "SELECT pg_advisory_unlock(%s), pg_advisory_unlock(%s), pg_notify(%s, '')", (key, key, channel(key))
        )
    except psycopg.OperationalError:
        log.debug("could not release the migration lock; the server releases it when the session ends")
