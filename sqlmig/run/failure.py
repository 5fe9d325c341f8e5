"""Server errors as :class:`MigrationError`: the statement's line and column in the file the user wrote, the
server's message, detail and hint, and what to do next after a timeout; a lost connection as
:class:`ConnectionLostError`, saying what the server rolled back."""

from __future__ import annotations

import re
from collections.abc import Sequence

import psycopg

from ..errors import ConnectionLostError, MigrationError, SqlmigError
from ..model import Conn, Migration
from ..render import source_position
from ..sqltext import Statement, locate
from . import bookkeeping, contention
from .contention import Limits

_COPY_LINE = re.compile(r"^COPY [^,]+, line (\d+)")


def to_error(
    conn: Conn,
    exc: psycopg.Error,
    migration: Migration,
    statement: Statement | None,
    applied: Sequence[str],
    *,
    offset: int = 0,
    whole_run: bool = False,
) -> MigrationError | ConnectionLostError:
    """The :class:`MigrationError` for ``exc``, raised by ``statement`` of ``migration`` (None: while committing),
    or :class:`ConnectionLostError` when the connection was lost. ``offset`` is where the statement starts in the
    query the server saw (its error position counts from there). ``whole_run``: the transaction is the run's
    (``--single-transaction``). Pure but for reading ``conn``'s state: the caller rolls back (:func:`roll_back`)."""
    if conn.closed or conn.broken:
        return lost(exc, migration, statement, applied, whole_run=whole_run)
    diag = exc.diag
    line = column = 0
    if statement is not None:
        position = int(diag.statement_position) - offset if diag.statement_position else 1
        line, column = locate(statement, position)
        copy_line = _COPY_LINE.search(diag.context or "") if statement.copy else None
        if copy_line:  # the server counts data lines from the one after the COPY statement
            line, column = line + statement.text.count("\n") + int(copy_line[1]), 1
        if migration.sql is not None:
            line, column = source_position(migration.template, migration.sql, line, column)
    detail = diag.message_detail
    if diag.context:
        detail = f"{detail}\n  where: {diag.context}" if detail else f"where: {diag.context}"
    return MigrationError(
        path=migration.source.path,
        name=migration.file.name,
        line=line,
        column=column,
        statement=statement.text if statement is not None else "(while committing)",
        sqlstate=diag.sqlstate,
        message=diag.message_primary or str(exc),
        detail=detail,
        hint=diag.message_hint,
        applied=tuple(applied),
        rolled_back=migration.source.transactional,
        resumable=not migration.source.transactional and migration.direction == "up",
    )


def roll_back(conn: Conn) -> None:
    """Roll back the failed transaction on ``conn``, unless the connection is gone (the server ended it then)."""
    if not (conn.closed or conn.broken):
        conn.rollback()


def lost(
    exc: psycopg.Error,
    migration: Migration,
    statement: Statement | None,
    applied: Sequence[str],
    *,
    whole_run: bool,
) -> ConnectionLostError:
    """The :class:`ConnectionLostError` for a connection lost while ``statement`` of ``migration`` ran (None:
    after its statements, while sqlmig recorded or committed it), in the run's one transaction (``whole_run``,
    ``--single-transaction``) or the migration's own."""
    name = migration.file.name
    if not migration.source.transactional:
        recorded = "its history row is unchanged" if migration.direction == "down" else "it is not recorded"
        outcome = f"{name} runs without a transaction: its statements before this one stay applied, and {recorded}."
    elif whole_run:
        outcome = "The server rolled back the whole run (--single-transaction): the database is as it was before it."
    elif statement is None:
        outcome = bookkeeping.commit_unknown(migration)
    else:
        outcome = f"The server rolled {name} back (it had not reached its COMMIT); it is not recorded."
    line = file_line(migration, statement) if statement is not None else 0
    return bookkeeping.lost(exc, migration, statement, line=line, outcome=outcome, applied=applied)


def file_line(migration: Migration, statement: Statement) -> int:
    """The line of the file the user wrote where ``statement`` starts."""
    if migration.sql is None:
        return statement.line
    return source_position(migration.template, migration.sql, statement.line, statement.column)[0]


def explain(conn: Conn, exc: SqlmigError, limits: Limits, attempt: int) -> SqlmigError:
    """``exc`` with what to do next added when a timeout caused it: for ``lock_timeout``, the sessions that held
    the locks the statement needed. Read-only. Errors other than :class:`MigrationError` come back as they are."""
    if not isinstance(exc, MigrationError):
        return exc
    if exc.sqlstate == contention.LOCK_NOT_AVAILABLE:
        found = contention.blockers(conn, exc.statement) if not conn.closed and not conn.broken else []
        held = "\n    ".join(found) if found else "(none now on the tables it names; it may have waited for another)"
        tries = f"tried {attempt + 1} time(s) with lock_timeout={limits.lock_timeout}"
        return amend(
            exc,
            detail=f"{tries}; sessions holding locks on the tables it needs:\n    {held}",
            hint="let those sessions finish (or end them: SELECT pg_terminate_backend(pid)) and run again; or allow "
            "a longer wait with --lock-timeout/--lock-retries or '-- sqlmig: lock-timeout=30s' in the file",
        )
    if exc.sqlstate == contention.QUERY_CANCELED:
        return amend(
            exc,
            hint=f"statement_timeout is {limits.statement_timeout}: if the statement needs longer, raise it with "
            "--statement-timeout or '-- sqlmig: statement-timeout=2h' in the file (0 means none)",
        )
    return exc


def amend(
    exc: MigrationError,
    *,
    message: str | None = None,
    detail: str | None = None,
    hint: str | None = None,
    outcome: str | None = None,
) -> MigrationError:
    """``exc`` with ``message`` and ``outcome`` replacing its own, and ``detail`` and ``hint`` added to its own."""
    return MigrationError(
        path=exc.path,
        name=exc.name,
        line=exc.line,
        column=exc.column,
        statement=exc.statement,
        sqlstate=exc.sqlstate,
        message=message or exc.message,
        detail="\n  ".join(d for d in (exc.detail, detail) if d) or None,
        hint=hint if exc.hint is None else f"{exc.hint}; {hint}" if hint else exc.hint,
        applied=exc.applied,
        rolled_back=exc.rolled_back,
        resumable=exc.resumable,
        outcome=outcome or exc.outcome,
    )
