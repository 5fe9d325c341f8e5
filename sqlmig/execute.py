"""Running one migration: its SQL and its history row in one transaction, or statement by statement.

Three ways, chosen by the file:
- in memory, transactional, no COPY: every statement, the history row and COMMIT go out in one pipeline, one
  round trip; the first statement without a result is the one that failed;
- COPY blocks or large files: statement by statement in one transaction, COPY data streamed from the file;
- ``-- sqlmig: no-transaction``: statement by statement in autocommit, then the history row.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg import sql

from . import __version__, contention, history, notx
from .contention import Limits
from .errors import DiscoveryError, FileProblem, MigrationError
from .history import TableName
from .model import Applied, Migration, Result
from .render import source_position
from .sqltext import CopyData, Statement, iter_statements, locate

log = logging.getLogger("sqlmig")
Conn = psycopg.Connection[Any]
Item = Statement | CopyData
Query = tuple[sql.Composed | str, tuple[object, ...]]

_COPY_LINE = re.compile(r"^COPY [^,]+, line (\d+)")
_TX_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}
# Each migration starts from the connection's own settings, as if it ran in its own psql session: a pg_dump
# file's `set_config('search_path', '', false)` must not leak into the migrations after it.
_RESET = "RESET ALL"


def statements_of(migration: Migration) -> list[Item] | None:
    """The statements of an in-memory migration (None when it is streamed from disk), checked before anything
    runs: a transactional file must not manage its own transaction. Raises :class:`DiscoveryError`."""
    if migration.sql is None:
        return None
    items: list[Item] = list(iter_statements(io.StringIO(migration.sql)))
    if migration.source.transactional:
        for item in items:
            if isinstance(item, Statement) and _is_tx_control(item.text):
                line, _ = source_position(migration.source, migration.sql, item.line, item.column)
                raise DiscoveryError(
                    [
                        FileProblem(
                            migration.source.path,
                            line,
                            f"'{item.text.split()[0]}' controls the transaction, but sqlmig already runs each "
                            "migration in one: remove BEGIN/COMMIT, or add '-- sqlmig: no-transaction' at its top",
                        )
                    ]
                )
    return items


def _is_tx_control(text: str) -> bool:
    words = text.split(None, 2)
    first = words[0].upper() if words else ""
    if first == "ROLLBACK":
        return "TO" not in (w.upper() for w in text.split()[1:3])
    return first in _TX_CONTROL


def run_step(
    conn: Conn,
    migration: Migration,
    items: list[Item] | None,
    table: TableName,
    *,
    limits: Limits,
    own_transaction: bool = True,
    applied: tuple[str, ...] = (),
    resume: Applied | None = None,
    invalid_index: str = "drop",
) -> Result:
    """Run one migration and record it (``up``) or remove its record (``down``). Writes.

    ``items`` are the statements from :func:`statements_of` (None: stream the file). ``limits`` (with the file's
    own directives applied) set ``lock_timeout``, ``statement_timeout`` and the role for the migration; one that
    hits ``lock_timeout`` is rolled back and tried again ``lock_retries`` times. With ``own_transaction=False``
    the caller holds an open transaction (``--single-transaction``) and retries. A ``no-transaction`` file going
    up records its progress and continues after ``resume``'s completed statements. On failure the migration is
    rolled back (when transactional) and :class:`MigrationError` points at the failing statement.
    """
    started = time.perf_counter()
    limits = limits.for_file(migration.source)
    if not migration.source.transactional and migration.direction == "up":
        _run_resumable(conn, migration, items, table, limits, resume, invalid_index, applied)
    elif not migration.source.transactional:
        _send(conn, [limits.setup(local=False)])
        _run_sequential(conn, migration, _items(migration, items), applied, [], transactional=False)
        duration = round((time.perf_counter() - started) * 1000)
        with conn.transaction():
            _send(conn, _history_tail(migration, table, duration))
    else:
        for attempt in itertools.count():
            try:
                _run_transactional(conn, migration, items, table, limits, own_transaction, applied)
                break
            except MigrationError as exc:
                if not own_transaction:
                    raise  # the caller's transaction is aborted: it rolls back, explains and retries
                if exc.sqlstate != contention.LOCK_NOT_AVAILABLE or attempt >= limits.lock_retries:
                    raise explain(conn, exc, limits, attempt) from exc.__cause__
                pause = limits.backoff(attempt)
                log.warning(
                    "%s: lock_timeout (%s) reached; rolled back, trying again in %.1fs (%d of %d)",
                    migration.file.name,
                    limits.lock_timeout,
                    pause,
                    attempt + 1,
                    limits.lock_retries,
                )
                time.sleep(pause)
    f = migration.file
    return Result(f.track, f.version, f.name, migration.direction, (time.perf_counter() - started) * 1000)


def _run_transactional(
    conn: Conn,
    migration: Migration,
    items: list[Item] | None,
    table: TableName,
    limits: Limits,
    own_transaction: bool,
    applied: tuple[str, ...],
) -> None:
    head: list[Query] = [limits.setup(local=True)]
    tail = _history_tail(migration, table)
    if items is not None and not any(isinstance(i, CopyData) or i.copy for i in items):
        _run_pipelined(conn, migration, items, head, tail, own_transaction, applied)
    else:
        _run_sequential(
            conn, migration, _items(migration, items), applied, tail, head=head, own_transaction=own_transaction
        )


def explain(conn: Conn, exc: MigrationError, limits: Limits, attempt: int) -> MigrationError:
    """``exc`` with what to do next added when a timeout or a lost connection caused it: for ``lock_timeout``,
    the sessions that held the locks the statement needed. Read-only."""
    if exc.sqlstate == contention.LOCK_NOT_AVAILABLE:
        found = contention.blockers(conn, exc.statement) if not conn.closed and not conn.broken else []
        held = "\n    ".join(found) if found else "(they had finished by the time sqlmig looked)"
        tries = f"tried {attempt + 1} time(s) with lock_timeout={limits.lock_timeout}"
        return _amend(
            exc,
            detail=f"{tries}; sessions holding locks on the tables it needs:\n    {held}",
            hint="let those sessions finish (or end them: SELECT pg_terminate_backend(pid)) and run again; or allow "
            "a longer wait with --lock-timeout/--lock-retries or '-- sqlmig: lock-timeout=30s' in the file",
        )
    if exc.sqlstate == contention.QUERY_CANCELED:
        return _amend(
            exc,
            hint=f"statement_timeout is {limits.statement_timeout}: if the statement needs longer, raise it with "
            "--statement-timeout or '-- sqlmig: statement-timeout=2h' in the file (0 means none)",
        )
    if conn.closed or conn.broken:
        return _amend(
            exc,
            hint="the connection to the server was lost: the server rolled the migration back unless its COMMIT had "
            "already gone through. Run again once the server is back: sqlmig reads the history first and continues",
        )
    return exc


def _amend(exc: MigrationError, *, detail: str | None = None, hint: str | None = None) -> MigrationError:
    return MigrationError(
        path=exc.path,
        name=exc.name,
        line=exc.line,
        column=exc.column,
        statement=exc.statement,
        sqlstate=exc.sqlstate,
        message=exc.message,
        detail="\n  ".join(d for d in (exc.detail, detail) if d) or None,
        hint=hint if exc.hint is None else f"{exc.hint}; {hint}" if hint else exc.hint,
        applied=exc.applied,
        rolled_back=exc.rolled_back,
        resumable=exc.resumable,
    )


def _run_resumable(
    conn: Conn,
    migration: Migration,
    items: list[Item] | None,
    table: TableName,
    limits: Limits,
    resume: Applied | None,
    invalid_index: str,
    applied: tuple[str, ...],
) -> None:
    started = time.perf_counter()
    skip = notx.statements_done(_items(migration, items), resume)
    done: list[str] = []
    recorded = skip
    index = 0
    current: Statement | None = None
    try:
        _send(conn, [limits.setup(local=False)])
        with ExitStack() as stack:
            copy = None
            for item in _items(migration, items):
                if isinstance(item, CopyData):
                    if copy is not None:
                        copy.write(item.data)
                    continue
                if copy is not None:
                    stack.close()
                    copy = None
                    done.append(item_text(current))
                index += 1
                if index <= skip:
                    done.append(item.text)
                    continue
                line = _source_line(migration, item)
                if len(done) > recorded:
                    notx.record_progress(conn, migration, table, done, line, exists=resume is not None or recorded > 0)
                    recorded = len(done)
                current = item
                notx.drop_invalid_index(conn, migration, item, line, invalid_index)
                if item.copy:
                    copy = stack.enter_context(conn.cursor().copy(item.text))
                else:
                    notx.run_with_retries(conn, item.text, limits, migration.file.name)
                    done.append(item.text)
            stack.close()
            if copy is not None:
                done.append(item_text(current))
        current = None
        duration = round((time.perf_counter() - started) * 1000)
        f = migration.file
        with conn.transaction():
            conn.execute(_RESET)
            if resume is not None or recorded > 0:
                params = (f.up.checksum, migration.rendered_checksum, duration, __version__, f.name, f.track)
                conn.execute(notx.complete_query(table), params)
            else:
                conn.execute(history.record_query(table), history.record_params(f, migration.rendered_checksum, duration))
    except psycopg.Error as exc:
        failure = _failure(conn, exc, migration, current, applied, rollback=False)
        if not conn.closed and not conn.broken and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.execute(_RESET)
        raise explain(conn, failure, limits, limits.lock_retries) from exc
    finally:
        if current is not None and not conn.closed and not conn.broken:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                conn.execute(_RESET)


def item_text(item: Statement | None) -> str:
    """The text of a statement (empty for None)."""
    return item.text if item is not None else ""


def _source_line(migration: Migration, item: Statement) -> int:
    if migration.sql is None:
        return item.line
    return source_position(migration.source, migration.sql, item.line, item.column)[0]


def _history_tail(migration: Migration, table: TableName, duration_ms: int | None = None) -> list[Query]:
    """What follows a migration's own SQL: reset the session, then record (up) or remove (down) its row."""
    if migration.direction == "up":
        params = history.record_params(migration.file, migration.rendered_checksum, duration_ms)
        return [(_RESET, ()), (history.record_query(table), params)]
    return [(_RESET, ()), (history.unrecord_query(table), (migration.file.name, migration.file.track))]


def _send(conn: Conn, queries: list[Query]) -> None:
    for query, params in queries:
        conn.execute(query, params or None)


def _items(migration: Migration, items: list[Item] | None) -> Iterator[Item]:
    if items is not None:
        yield from items
        return
    with open(migration.source.path, encoding="utf-8-sig", newline=None) as fh:
        yield from iter_statements(fh)


def _run_pipelined(
    conn: Conn,
    migration: Migration,
    items: list[Item],
    head: list[Query],
    tail: list[Query],
    own_transaction: bool,
    applied: tuple[str, ...],
) -> None:
    sent: list[tuple[Statement, psycopg.Cursor[Any]]] = []
    try:
        with conn.pipeline():
            if own_transaction:
                conn.execute("BEGIN")
            _send(conn, head)
            for item in items:
                assert isinstance(item, Statement)
                cur = conn.cursor()
                sent.append((item, cur))
                cur.execute(item.text, prepare=False)
            _send(conn, tail)
            if own_transaction:
                conn.execute("COMMIT")
    except psycopg.Error as exc:
        failed = next((st for st, cur in sent if cur.pgresult is None), None)
        raise _failure(conn, exc, migration, failed, applied, own_transaction) from exc


def _run_sequential(
    conn: Conn,
    migration: Migration,
    items: Iterable[Item],
    applied: tuple[str, ...],
    tail: list[Query],
    *,
    head: list[Query] = [],  # noqa: B006 - never mutated
    transactional: bool = True,
    own_transaction: bool = True,
) -> None:
    current: Statement | None = None
    begin = transactional and own_transaction
    try:
        with ExitStack() as stack:
            if begin:
                conn.execute("BEGIN")
            _send(conn, head)
            copy = None
            for item in items:
                if isinstance(item, CopyData):
                    if copy is not None:
                        copy.write(item.data)
                    continue
                if copy is not None:
                    stack.close()
                    copy = None
                current = item
                if item.copy:
                    copy = stack.enter_context(conn.cursor().copy(item.text))
                else:
                    conn.execute(item.text, prepare=False)
            stack.close()
            current = None
            _send(conn, tail)
            if begin:
                conn.execute("COMMIT")
    except psycopg.Error as exc:
        raise _failure(conn, exc, migration, current, applied, begin) from exc


def _failure(
    conn: Conn,
    exc: psycopg.Error,
    migration: Migration,
    statement: Statement | None,
    applied: tuple[str, ...],
    rollback: bool,
) -> MigrationError:
    if rollback and not conn.closed and not conn.broken:
        conn.rollback()
    diag = exc.diag
    line = column = 0
    if statement is not None:
        position = int(diag.statement_position) if diag.statement_position else 1
        line, column = locate(statement, position)
        copy_line = _COPY_LINE.search(diag.context or "") if statement.copy else None
        if copy_line:  # the server counts data lines from the one after the COPY statement
            line, column = line + statement.text.count("\n") + int(copy_line[1]), 1
        rendered = migration.sql if migration.sql is not None else None
        if rendered is not None:
            line, column = source_position(migration.source, rendered, line, column)
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
        applied=applied,
        rolled_back=migration.source.transactional,
        resumable=not migration.source.transactional and migration.direction == "up",
    )
