"""Detection of transaction-mode connection poolers (PgBouncer, Supavisor) before the migration lock is taken.

sqlmig holds a session-level advisory lock for a whole run, and the statements of one migration must run on one
server session. A pooler in transaction (or statement) mode gives each transaction to whichever server
connection is free, so neither holds there. A session-mode pooler is fine: a client keeps its server session.

Signals, cheapest first:

1. The pid in the connection's cancel key (``conn.info.backend_pid``) is that of the server session
   (``pg_backend_pid()``): nothing sits in between, and the check ends after one round trip. Poolers send a
   cancel key of their own, in every mode.
2. A short-lived second connection to the same place runs on the same server session as ``conn``: two open
   clients sharing one session is what transaction and statement mode do, and only they.
3. ``pg_backend_pid()`` of ``conn`` changes between two statements.

Ports 6543 (Supabase's transaction-mode pooler) and 6432 (PgBouncer's default) only word the message.
"""

from __future__ import annotations

import logging
import select
import time
from contextlib import closing
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import tuple_row

from ..config import redact
from ..errors import PoolerError

log = logging.getLogger("sqlmig")

# Bounds the second connection: a session-mode PgBouncer whose pool is full queues its query for
# query_wait_timeout (120 s by default) and ignores cancel requests for it.
PROBE_TIMEOUT = 5.0
PORT_HINTS = {
    6543: "port 6543 is Supabase's transaction-mode pooler",
    6432: "port 6432 is PgBouncer's default port",
}


def check(conn: psycopg.Connection[Any], url: str | None) -> None:
    """Raise :class:`~sqlmig.PoolerError` when ``conn`` (in autocommit) goes through a pooler in transaction or
    statement mode.

    ``url`` is where ``conn`` was opened; when None (the caller's connection), the second connection uses
    ``conn``'s parameters and password. If that connection fails or times out, only signal 3 is left (see the
    module docstring). Read-only: one query on a direct connection, two plus a second connection otherwise.
    """
    cur = conn.cursor(row_factory=tuple_row)
    first = _backend_pid(cur)
    if conn.info.backend_pid == first:
        return
    probe = _probe(url or make_conninfo(conn.info.dsn, password=conn.info.password or None))
    again = _backend_pid(cur)
    pids = f"server pids {first}, {again}, second connection {probe}, cancel key pid {conn.info.backend_pid}"
    if probe != first and again == first:
        mode = "session mode" if probe is not None else "a mode the second connection could not tell"
        log.debug("a pooler in %s sits in front of the server (%s)", mode, pids)
        return
    log.debug("a pooler in transaction or statement mode sits in front of the server (%s)", pids)
    raise PoolerError(_message(url, conn.info.host, conn.info.port))


def _backend_pid(cur: psycopg.Cursor[tuple[Any, ...]]) -> int:
    row = cur.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _probe(conninfo: str) -> int | None:
    """``pg_backend_pid()`` on a new connection, or None if it fails or takes longer than PROBE_TIMEOUT."""
    timeout = max(2, round(PROBE_TIMEOUT))
    try:
        with closing(
            psycopg.connect(
                conninfo, autocommit=True, prepare_threshold=None, application_name="sqlmig", connect_timeout=timeout
            )
        ) as probe:
            pgconn = probe.pgconn
            pgconn.send_query(b"SELECT pg_backend_pid()")
            deadline = time.monotonic() + PROBE_TIMEOUT
            pgconn.consume_input()
            while pgconn.is_busy():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([pgconn.socket], [], [], remaining)[0]:
                    log.debug("no answer on the pooler probe connection within %.0f s", PROBE_TIMEOUT)
                    return None
                pgconn.consume_input()
            result = pgconn.get_result()
            ok = result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK
            value = result.get_value(0, 0) if ok and result else None
            return int(value) if value is not None else None
    except psycopg.Error as exc:
        log.debug("cannot use the pooler probe connection: %s", redact(str(exc).strip()))
        return None


def _message(url: str | None, host: str, port: int) -> str:
    where = f"the database URL {redact(url, url)}" if url else f"the connection passed to sqlmig ({host}:{port})"
    hint = f" ({PORT_HINTS[port]})" if port in PORT_HINTS else ""
    return (
        f"{where} goes through a connection pooler in transaction or statement mode{hint}: two connections shared one "
        "server session. Migrations need a session of their own: sqlmig holds a session-level advisory lock for "
        "the whole run, and the statements of one migration must stay on one server session, which such a "
        "pooler does not guarantee. Set DIRECT_URL (or SQLMIG_DATABASE_URL) to a direct connection to the "
        "server or to a session-mode pooler URL (on Supabase: port 5432), or pass such a URL. Nothing was run."
    )
