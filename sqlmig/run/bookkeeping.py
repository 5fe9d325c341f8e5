"""sqlmig's own work around each migration, and how its failures are reported.

After a migration's SQL, sqlmig resets the session, checks that it still holds the migration lock and writes the
history row, in the migration's own transaction. A failure there is not the migration's SQL failing: it is a
:class:`BookkeepingError` (exit code 5) saying what was rolled back and what is recorded. A connection lost while a
migration runs is a :class:`ConnectionLostError` (exit code 5) saying the same.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import psycopg

from ..errors import BookkeepingError, ConnectionLostError
from ..model import Conn, Migration, Query, TableName
from ..sqltext import Statement
from . import contention, history
from .contention import Limits
from .lock import lock_key

# SQLSTATE reported for a migration that released the migration lock: object_not_in_prerequisite_state.
LOCK_LOST = "55000"
# Inside a no-transaction file's progress write: the file's own SET ROLE / SET SESSION AUTHORIZATION stay in force
# for its next statements, but the history is written as the connecting user (or its configured role).
AS_CONNECTING_USER = "SET LOCAL SESSION AUTHORIZATION DEFAULT;\nSET LOCAL ROLE TO DEFAULT"


# The setting the lock check reads only when the lock is gone: reading a setting that does not exist is an error
# (SQLSTATE 42704) that plain SQL can raise, without compiling PL/pgSQL in every migration's transaction.
_LOCK_RELEASED = "sqlmig.migration_lock_released"


@functools.lru_cache(maxsize=8)
def lock_check(table: TableName) -> str:
    """A statement that fails when this session no longer holds the migration lock of ``table``: a migration that
    called ``pg_advisory_unlock_all()`` (in a function, where the validation cannot see it) released it, and a
    session-level advisory lock is not given back by a rollback.

    :func:`sqlmig.run.lock.hold` takes the lock twice, so that giving one back and taking it again here never leaves
    it free for an instant: when the session still holds it, the unlock succeeds and the try takes it back at once.
    When the migration released both, the unlock finds nothing and the statement fails."""
    key = lock_key(table)
    return (
        f"SELECT CASE WHEN (CASE WHEN pg_catalog.pg_advisory_unlock({key}) THEN pg_catalog.pg_try_advisory_lock({key})"
        f" ELSE false END) THEN true ELSE pg_catalog.current_setting('{_LOCK_RELEASED}')::boolean END"
    )


def lock_released_error(diag: psycopg.errors.Diagnostic) -> bool:
    """Whether a server error is the one :func:`lock_check` raises."""
    return diag.sqlstate == "42704" and _LOCK_RELEASED in (diag.message_primary or "")


def history_tail(migration: Migration, table: TableName, limits: Limits, duration_ms: int | None = None) -> list[Query]:
    """What follows a migration's own SQL in its transaction: reset the session (settings and identity, as if
    the next migration ran in a fresh psql session), bound sqlmig's own write by the timeouts again, check that
    the migration lock is still held, then record (up) or remove (down) the migration's row; a migration's down
    also forgets the seeds when it removes the last migration's row (:func:`~sqlmig.run.history.forget_seeds_query`)."""
    if migration.direction == "up":
        params = history.record_params(migration.file, migration.rendered_checksum, duration_ms)
        write: Query = (history.record_query(table), params)
    else:
        write = (history.unrecord_query(table), (migration.file.name, migration.file.track))
    forget = (
        [(history.forget_seeds_query(table), ())]
        if migration.direction == "down" and migration.file.track == "migrate"
        else []
    )
    return [*((q, ()) for q in limits.teardown()), limits.guard(), (lock_check(table), ()), write, *forget]


def failed(
    conn: Conn,
    exc: psycopg.Error,
    migration: Migration,
    table: TableName,
    *,
    outcome: str,
    applied: Sequence[str] = (),
    doing: str = "record",
) -> BookkeepingError:
    """The :class:`BookkeepingError` for ``exc``, raised by sqlmig's own ``doing`` ("record", "record the progress
    of") for ``migration``, whose fate ``outcome`` describes. For a lock timeout, names the sessions holding
    locks on the history table. Read-only."""
    diag = exc.diag
    name = migration.file.name
    if lock_released_error(diag):
        return lock_released(migration, table, outcome=outcome, applied=applied)
    detail = diag.message_detail
    if diag.sqlstate == contention.LOCK_NOT_AVAILABLE:
        # Read only from a usable session: in --single-transaction the run's transaction is still aborted here.
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if idle and not conn.closed and not conn.broken:
            found = contention.blockers(conn, f"SELECT FROM {table.ident.as_string(conn)}")
            held = "\n    ".join(found) if found else "(none now)"
            detail = f"sessions holding locks on {table}:\n    {held}"
        hint = (
            "the history table was locked by another session for longer than lock_timeout: let it finish (or end "
            "it: SELECT pg_terminate_backend(pid)), then run up again"
        )
    else:
        hint = (
            f"the migration's own SQL ran without error, but sqlmig could not write to {table} afterwards: a "
            "migration must not drop, rename, lock or revoke the history table, or make its transaction "
            "read-only; fix that, then run up again"
        )
    return BookkeepingError(
        path=migration.source.path,
        name=name,
        message=f"sqlmig could not {doing} {name} in the history table {table}: "
        f"{diag.message_primary or str(exc).strip()}",
        outcome=outcome,
        sqlstate=diag.sqlstate,
        detail=detail,
        hint=diag.message_hint or hint,
        applied=tuple(applied),
    )


def lock_released(
    migration: Migration, table: TableName, *, outcome: str, applied: Sequence[str] = ()
) -> BookkeepingError:
    """The error for a migration that released the migration lock while it ran."""
    return BookkeepingError(
        path=migration.source.path,
        name=migration.file.name,
        message=f"{migration.file.name} released sqlmig's migration lock (key {lock_key(table)}) while it ran, "
        "so another run could have started alongside it",
        outcome=outcome,
        sqlstate=LOCK_LOST,
        hint="remove pg_advisory_unlock_all(), DISCARD ALL or pg_advisory_unlock() of that key from the migration "
        "(also from functions it calls), then run up again",
        applied=tuple(applied),
    )


def lost(
    exc: psycopg.Error,
    migration: Migration,
    statement: Statement | None,
    *,
    line: int,
    outcome: str,
    applied: Sequence[str] = (),
) -> ConnectionLostError:
    """The :class:`ConnectionLostError` for ``exc``, raised while ``statement`` of ``migration`` ran (None:
    while sqlmig recorded or committed it), at ``line`` of the file the user wrote."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return ConnectionLostError(
        path=migration.source.path,
        name=migration.file.name,
        line=line,
        column=1 if line else 0,
        statement=statement.text if statement is not None else "",
        sqlstate=exc.diag.sqlstate,
        message=f"the connection to the server was lost while {migration.file.name} ran: {reason}",
        outcome=outcome,
        hint="run up again once the server is back: sqlmig reads the history first and applies only what it "
        "does not record",
        applied=tuple(applied),
    )


def rolled_back(migration: Migration, own_transaction: bool) -> str:
    """What became of a transactional migration whose transaction failed before its COMMIT."""
    if not own_transaction:
        return "The whole run was rolled back (--single-transaction): the database is as it was before it."
    return f"{migration.file.name} was rolled back and is not recorded: the database is as it was before it."


def commit_unknown(migration: Migration) -> str:
    """What became of a transactional migration whose connection was lost during its history write or COMMIT."""
    return (
        f"The connection was lost while sqlmig recorded and committed {migration.file.name}: if its COMMIT went "
        "through, it is applied and recorded; if not, the server rolled it back. The history says which: the next "
        "up applies it only if it is not recorded."
    )
