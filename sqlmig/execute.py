"""Running one migration: its SQL and its history row in one transaction, or statement by statement.

Three ways, chosen by the file:
- in memory, transactional, no COPY: BEGIN, the limits, every statement, the history row and COMMIT go out as one
  simple-protocol script, one round trip; the number of results before the error says which statement failed;
- COPY blocks or large files: statement by statement in one transaction, COPY data streamed from the file;
- ``-- sqlmig: no-transaction``: statement by statement in autocommit, then the history row.
"""

from __future__ import annotations

import bisect
import io
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from . import contention, failure, history, notx, stall, wire
from .contention import Limits
from .errors import DiscoveryError, FileProblem, MigrationError
from .history import TableName
from .model import Applied, Migration, Result
from .render import source_position
from .sqltext import CopyData, Statement, iter_statements
from .stream import items_of, meta_advice, run_sequential, send

log = logging.getLogger("sqlmig")
Conn = psycopg.Connection[Any]
Item = Statement | CopyData
Query = tuple[sql.Composed | str, tuple[object, ...]]

_TX_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}


def statements_of(migration: Migration) -> list[Item] | None:
    """The statements of an in-memory migration (None when it is streamed from disk), checked before anything
    runs: no psql meta-commands (every one is listed), at least one statement unless the file is a template
    (which may render to nothing on purpose), and a transactional file must not manage its own transaction.
    Raises :class:`DiscoveryError`."""
    if migration.sql is None:
        return None
    items: list[Item] = []
    metas: list[FileProblem] = []
    for found in iter_statements(io.StringIO(migration.sql)):
        if isinstance(found, (Statement, CopyData)):
            items.append(found)
        else:  # a psql meta-command: the server cannot run it, and dropping it silently could change the meaning
            line, _ = source_position(migration.source, migration.sql, found.line, 1)
            metas.append(FileProblem(migration.source.path, line, meta_advice(found.command)))
    if metas:
        raise DiscoveryError(metas)
    if not migration.source.templated and not any(isinstance(item, Statement) for item in items):
        raise DiscoveryError(
            [
                FileProblem(
                    migration.source.path,
                    0,
                    "contains no SQL statements: write the migration, or delete the file; a migration that cannot "
                    "be undone simply has no .down.sql",
                )
            ]
        )
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
    applied: Sequence[str] = (),
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
        notx.run_up(conn, migration, lambda: items_of(migration, items), table, limits, resume, invalid_index, applied)
    elif not migration.source.transactional:
        send(conn, [limits.setup(local=False)])
        try:
            run_sequential(conn, migration, items_of(migration, items), applied, [], transactional=False)
        except MigrationError:
            if not conn.closed and not conn.broken:
                send(conn, _reset(limits))  # the limits were set for the session
            raise
        duration = round((time.perf_counter() - started) * 1000)
        with conn.transaction():
            send(conn, _history_tail(migration, table, limits, duration))
    else:
        for attempt in itertools.count():
            try:
                _run_transactional(conn, migration, items, table, limits, own_transaction, applied)
                break
            except MigrationError as exc:
                if not own_transaction:
                    raise  # the caller's transaction is aborted: it rolls back, explains and retries
                if exc.sqlstate != contention.LOCK_NOT_AVAILABLE or attempt >= limits.lock_retries:
                    raise failure.explain(conn, exc, limits, attempt) from exc.__cause__
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
    applied: Sequence[str],
) -> None:
    tail = _history_tail(migration, table, limits)
    if items is not None and not any(isinstance(i, CopyData) or i.copy for i in items):
        _run_script(conn, migration, items, limits, tail, own_transaction, applied)
    else:
        head: list[Query] = [limits.setup(local=True)]
        run_sequential(
            conn, migration, items_of(migration, items), applied, tail, head=head, own_transaction=own_transaction
        )


def _history_tail(
    migration: Migration, table: TableName, limits: Limits, duration_ms: int | None = None
) -> list[Query]:
    """What follows a migration's own SQL: reset the session, then record (up) or remove (down) its row."""
    if migration.direction == "up":
        params = history.record_params(migration.file, migration.rendered_checksum, duration_ms)
        return [*_reset(limits), (history.record_query(table), params)]
    return [*_reset(limits), (history.unrecord_query(table), (migration.file.name, migration.file.track))]


def _reset(limits: Limits) -> list[Query]:
    # Each migration starts from the connection's own settings, as if it ran in its own psql session: a pg_dump
    # file's `set_config('search_path', '', false)` must not leak into the migrations after it.
    return [(q, ()) for q in limits.teardown()]


def _run_script(
    conn: Conn,
    migration: Migration,
    items: list[Item],
    limits: Limits,
    tail: list[Query],
    own_transaction: bool,
    applied: Sequence[str],
) -> None:
    # The whole migration as one simple-protocol query: one round trip and one parse of the client's work per
    # migration. The server runs the statements in order and stops at the first error; the number of results
    # before it tells which statement failed, and its position is counted from the start of the script.
    statements = [item for item in items if isinstance(item, Statement)]
    parts = ["BEGIN"] if own_transaction else []
    parts.append(limits.setup_text())
    first = len(parts)
    parts += [st.text for st in statements]
    parts += [_inline(conn, q, p) for q, p in tail]
    if own_transaction:
        parts.append("COMMIT")
    script = ";\n".join(parts)
    try:
        results = wire.exchange(conn, script)
    except wire.Stalled as exc:
        raise stall.to_error(conn, migration, None, exc, alone=own_transaction) from None
    except psycopg.Error as exc:
        raise failure.to_error(conn, exc, migration, None, applied, own_transaction) from exc
    errors = [i for i, res in enumerate(results) if res.status == psycopg.pq.ExecStatus.FATAL_ERROR]
    if not errors:
        return
    server_error = wire.error(conn, results[errors[0]])
    # The server parses the whole script before it runs any of it: a syntax error comes first, with only its
    # position (counted from the script's start) to say where. Other errors come after one result per statement
    # that ran.
    starts = list(itertools.accumulate((len(p) + 2 for p in parts), initial=0))
    position = server_error.diag.statement_position
    index = bisect.bisect_right(starts, int(position) - 1) - 1 if position else errors[0]
    failed = statements[index - first] if first <= index < first + len(statements) else None
    offset = starts[index]
    raise failure.to_error(conn, server_error, migration, failed, applied, own_transaction, offset=offset)


def _inline(conn: Conn, query: sql.Composed | str, params: tuple[object, ...]) -> str:
    """``query`` with its parameters bound on the client, for a simple-protocol script."""
    if not params:
        return query if isinstance(query, str) else query.as_string(conn)
    return psycopg.ClientCursor(conn).mogrify(query, params)
