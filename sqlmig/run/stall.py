"""A connection that stopped taking a migration's SQL: the error, and the server session it leaves behind.

The server's side of such a connection waits for the rest of the query inside the migration's open transaction,
holding the migration lock, until it notices that the connection is gone, which may take hours (its TCP
keepalive settings). So the session is ended from a new connection, and the error says which of the two happened.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import ConnectError
from ..model import Conn, Migration
from ..sqltext import Statement
from .wire import Stalled

_END_WAIT_MS = 5000


def to_error(
    conn: Conn, migration: Migration, statement: Statement | None, exc: Stalled, *, alone: bool
) -> ConnectError:
    """The error for ``conn`` having stopped taking ``statement`` (None: the whole migration as one script) of
    ``migration``, whose transaction is its own (``alone``) or the caller's single transaction. Closes ``conn``
    and terminates its server session from a new connection. Writes (ends a session)."""
    pid = conn.info.backend_pid
    params: dict[str, Any] = {**conn.info.get_parameters(), "connect_timeout": 5}
    if conn.info.password:
        params["password"] = conn.info.password
    conn.close()
    why = _end_session(params, pid)
    name = migration.file.name
    where = f"{migration.source.path}:{statement.line}" if statement is not None else str(migration.source.path)
    nothing = f"nothing of {name} was committed" + ("" if alone else ", nor of the migrations before it in this run")
    text = (
        f"{where}: the connection to the server took none of the {'statement' if statement else 'migration'} "
        f"sqlmig was sending for {exc.seconds:g}s (the network, or a proxy or load balancer that stopped "
        "forwarding), so sqlmig closed it. "
    )
    if why is None:
        text += (
            f"It then ended the server's session (pid {pid}) from a new connection: the server rolled back its open "
            f"transaction and released the migration lock; {nothing}. Run again once the connection is healthy."
        )
    else:
        text += (
            f"{nothing[0].upper()}{nothing[1:]}, but ending the server's session (pid {pid}) from a new connection "
            f"failed ({why}): until the server notices that the connection is gone, that session keeps its open "
            f"transaction and the migration lock. End it with SELECT pg_terminate_backend({pid}), then run again."
        )
    return ConnectError(text)


def _end_session(params: dict[str, Any], pid: int) -> str | None:
    """Terminate the server session ``pid`` from a new connection made with ``params``, waiting for it to end.
    None when it ended, else why not."""
    try:
        with psycopg.connect(autocommit=True, **params) as other:
            row = other.execute("SELECT pg_terminate_backend(%s, %s)", (pid, _END_WAIT_MS)).fetchone()
    except psycopg.Error as err:
        return str(err).strip().splitlines()[0]
    return None if row and row[0] else f"it did not end within {_END_WAIT_MS // 1000} s"
