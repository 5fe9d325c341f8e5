"""Running one migration: its SQL and its history row in one transaction, or statement by statement.

Three ways, chosen by the file:
- in memory, transactional, no COPY: every statement, the history row and COMMIT go out in one pipeline, one
  round trip; the first statement without a result is the one that failed;
- COPY blocks or large files: statement by statement in one transaction, COPY data streamed from the file;
- ``-- sqlmig: no-transaction``: statement by statement in autocommit, then the history row.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg import sql

from . import history
from .errors import DiscoveryError, FileProblem, MigrationError
from .history import TableName
from .model import Migration, Result
from .render import source_position
from .sqltext import CopyData, Statement, iter_statements, locate

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
    own_transaction: bool = True,
    applied: tuple[str, ...] = (),
) -> Result:
    """Run one migration and record it (``up``) or remove its record (``down``). Writes.

    ``items`` are the statements from :func:`statements_of` (None: stream the file). With
    ``own_transaction=False`` the caller holds an open transaction (``--single-transaction``). On failure the
    migration is rolled back (when transactional) and :class:`MigrationError` points at the failing statement.
    """
    started = time.perf_counter()
    if not migration.source.transactional:
        _run_sequential(conn, migration, _items(migration, items), applied, [], transactional=False)
        duration = round((time.perf_counter() - started) * 1000)
        with conn.transaction():
            _send(conn, _history_tail(migration, table, duration))
    elif items is not None and not any(isinstance(i, CopyData) or i.copy for i in items):
        _run_pipelined(conn, migration, items, _history_tail(migration, table), own_transaction, applied)
    else:
        tail = _history_tail(migration, table)
        _run_sequential(conn, migration, _items(migration, items), applied, tail, own_transaction=own_transaction)
    f = migration.file
    return Result(f.track, f.version, f.name, migration.direction, (time.perf_counter() - started) * 1000)


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
    tail: list[Query],
    own_transaction: bool,
    applied: tuple[str, ...],
) -> None:
    sent: list[tuple[Statement, psycopg.Cursor[Any]]] = []
    try:
        with conn.pipeline():
            if own_transaction:
                conn.execute("BEGIN")
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
    transactional: bool = True,
    own_transaction: bool = True,
) -> None:
    current: Statement | None = None
    begin = transactional and own_transaction
    try:
        with ExitStack() as stack:
            if begin:
                conn.execute("BEGIN")
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
    )
