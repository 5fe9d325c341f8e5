"""A script of statements as one simple-protocol query, with every statement's result.

psycopg's ``execute`` raises at the first error of a multi-statement query without saying how many statements ran
before it; sqlmig needs that to point at the failing statement, so it reads the results itself through psycopg's
libpq wrapper (public API), the way psycopg's own generators do.
"""

from __future__ import annotations

import contextlib
import select

import psycopg
from psycopg import pq

from ..model import Conn

# How long sending may make no progress at all while the server is waiting for the rest of a query. A server
# reading a query takes the bytes as fast as the network carries them, however busy it is; one that takes none for
# this long is unreachable, or behind a proxy or balancer that stopped forwarding.
STALL = 60.0


class Stalled(Exception):
    """The connection took no bytes of a query for ``seconds``: the server has not received all of it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the connection took no data for {seconds:g}s")
        self.seconds = seconds


def drain(conn: Conn, *, stall: float | None) -> None:
    """Send everything libpq holds for the server. A non-blocking connection sends only what the socket takes at
    once; the rest waits in libpq's buffer until someone flushes it, and a caller that waits for results first
    waits forever, since the server is still waiting for the query. Results that arrive meanwhile are read into
    libpq's buffer, so that a server blocked on writing them keeps reading. Raises :class:`Stalled` when neither
    direction moves for ``stall`` seconds (None: no bound, for a server that may be running earlier statements),
    :class:`psycopg.OperationalError` when the connection fails."""
    pgconn = conn.pgconn
    while pgconn.flush():
        readable, writable, _ = select.select([pgconn.socket], [pgconn.socket], [], stall)
        if not readable and not writable:
            raise Stalled(stall or 0)
        if readable:
            pgconn.consume_input()


class Lost(psycopg.OperationalError):
    """The connection failed while a script ran; ``done`` statements of it had completed (their results had
    arrived), so statement number ``done`` (0-based) was running or had not started."""

    def __init__(self, message: str, done: int) -> None:
        super().__init__(message)
        self.done = done


def exchange(conn: Conn, script: str) -> list[pq.abc.PGresult]:
    """Send ``script`` (statements separated by ``;``) and return one result per statement run: the server stops at
    the first error, whose result is the last. Raises :class:`Lost` when the connection fails, :class:`Stalled`
    when it takes none of the script for :data:`STALL` seconds. On an interrupt (Ctrl-C) the query is cancelled and
    its results drained before the interrupt goes on."""
    pgconn = conn.pgconn
    results: list[pq.abc.PGresult] = []
    try:
        pgconn.send_query(script.encode(conn.info.encoding))
        drain(conn, stall=STALL)  # the server is idle, reading this script: it takes bytes as they come
        return _results(pgconn, results)
    except KeyboardInterrupt:
        conn.cancel_safe()
        _results(pgconn, [])
        raise
    except psycopg.OperationalError as exc:
        # A terminated backend sends its error (a result for the statement it ran) before closing the connection.
        failed = bool(results) and results[-1].status == pq.ExecStatus.FATAL_ERROR
        raise Lost(str(exc), len(results) - failed) from exc


# Sent to end a COPY ... FROM STDIN that a script started: its data is not in the script, so there is none to send.
NO_COPY_DATA = b"COPY FROM STDIN in a script run by sqlmig has no data to read"


def _results(pgconn: pq.abc.PGconn, results: list[pq.abc.PGresult]) -> list[pq.abc.PGresult]:
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                return results
            # A COPY result does not end by itself: the server waits for its data, or sends its rows, and no
            # further result comes until the COPY ends. The validation refuses COPY ... TO STDOUT, and COPY data
            # goes another way; these are for text that reached here anyway, which must still end.
            if result.status == pq.ExecStatus.COPY_OUT:
                _discard_copy_out(pgconn)
                continue
            if result.status == pq.ExecStatus.COPY_IN:
                while not pgconn.put_copy_end(NO_COPY_DATA):  # 0: libpq's buffer is full for now
                    select.select([], [pgconn.socket], [])
                while pgconn.flush():
                    select.select([], [pgconn.socket], [])
                continue
            results.append(result)
        select.select([pgconn.socket], [], [])


def _discard_copy_out(pgconn: pq.abc.PGconn) -> None:
    """Read and drop the rows of a COPY ... TO STDOUT: a migration's output goes nowhere."""
    while True:
        size, _ = pgconn.get_copy_data(1)  # async: 0 means nothing has arrived yet
        if size == -1:  # the COPY has ended; its command result follows
            return
        if size == 0:
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()


def error(conn: Conn, result: pq.abc.PGresult) -> psycopg.Error:
    """The psycopg exception for an error result, with its diagnostics (``exc.diag``)."""
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    cls: type[psycopg.Error] = psycopg.DatabaseError
    if sqlstate:
        with contextlib.suppress(KeyError):  # a SQLSTATE newer than psycopg: the generic class
            cls = psycopg.errors.lookup(sqlstate.decode())
    message = result.error_message.decode(conn.info.encoding, "replace").strip()
    return cls(message, info=result, encoding=conn.info.encoding)
