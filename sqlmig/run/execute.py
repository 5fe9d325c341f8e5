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
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import psycopg
from psycopg import sql

from .. import checks
from ..errors import BookkeepingError, DiscoveryError, FileProblem, MigrationError
from ..model import Applied, Conn, InvalidIndexAction, Migration, Query, Result, SqlFile, TableName
from ..reader import open_streamed
from ..render import source_position
from ..sqltext import CopyData, Runnable, Statement, iter_statements
from . import bookkeeping, contention, failure, notx, stall, wire
from .contention import Limits
from .stream import RawLines, items_of, run_sequential, send

log = logging.getLogger("sqlmig")


def statements_of(migration: Migration) -> list[Runnable] | None:
    """The statements of an in-memory migration (None when it is streamed from disk), checked before anything
    runs by the one validation (:mod:`sqlmig.checks`), whatever the file's size: a streamed file is read through
    first when its text may hold anything refused. Reads the file; raises :class:`DiscoveryError` listing every
    problem that makes sqlmig refuse the file (a file with no statements is not one: it is applied and recorded)."""
    source = migration.source
    if migration.sql is None:
        with open_streamed(source) as fh:
            if checks.needs_split(_line_chunks(fh)) and _refused(fh, source, skips_data=True):
                # Passing over COPY data left the lines after it unnumbered: again, counting them, for the error.
                _refuse(migration, _refused(fh, source, skips_data=False))
        return None
    if (nul := checks.nul_problem(migration.sql)) is not None:
        _refuse(migration, [nul])
    items: list[Runnable] = []
    validation = checks.Validation(**_kind(source))
    problems: list[checks.Problem] = []
    for found in iter_statements(io.StringIO(migration.sql)):
        problems += validation.check(found)
        if isinstance(found, (Statement, CopyData)):
            items.append(found)
    _refuse(migration, problems)
    return items


def _refused(fh: BinaryIO, source: SqlFile, *, skips_data: bool) -> list[checks.Problem]:
    """What the one validation refuses in a streamed file, read from its start."""
    fh.seek(0)
    problems = checks.validate(iter_statements(RawLines(fh, skips_data=skips_data)), **_kind(source))
    return [p for p in problems if p.refused]


def _kind(source: SqlFile) -> dict[str, bool]:
    return {"transactional": source.transactional, "templated": source.templated}


def _line_chunks(fh: BinaryIO) -> Iterator[bytes]:
    """The file in blocks of about 1 MiB that end at line ends, without a BOM, for :func:`checks.needs_split`."""
    first = True
    while block := fh.read(1 << 20):
        block += fh.readline()
        yield block.removeprefix(b"\xef\xbb\xbf") if first else block
        first = False


def _refuse(migration: Migration, problems: list[checks.Problem]) -> None:
    refused = [p for p in problems if p.refused]
    if refused:
        source = migration.source
        text = migration.sql
        template = migration.template
        lines = [p.line if text is None else source_position(template, text, p.line, p.column)[0] for p in refused]
        raise DiscoveryError([FileProblem(source.path, line, str(p)) for line, p in zip(lines, refused, strict=True)])


def run_step(
    conn: Conn,
    migration: Migration,
    items: list[Runnable] | None,
    table: TableName,
    *,
    limits: Limits,
    own_transaction: bool = True,
    applied: Sequence[str] = (),
    resume: Applied | None = None,
    invalid_index: InvalidIndexAction = "drop",
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
        _run_down_alone(conn, migration, items, table, limits, applied, started)
    elif not own_transaction:  # the caller's transaction (--single-transaction): it rolls back, explains, retries
        _run_transactional(conn, migration, items, table, limits, own_transaction, applied)
    else:
        for attempt in contention.attempts(limits, migration.file.name, "rolled back"):
            try:
                _run_transactional(conn, migration, items, table, limits, own_transaction, applied)
                break
            except (MigrationError, BookkeepingError) as exc:
                if not contention.is_lock_timeout(exc.sqlstate) or attempt.last:
                    raise failure.explain(conn, exc, limits, attempt.number) from exc.__cause__
    f = migration.file
    return Result(f.track, f.version, f.name, migration.direction, (time.perf_counter() - started) * 1000)


def _run_down_alone(
    conn: Conn,
    migration: Migration,
    items: list[Runnable] | None,
    table: TableName,
    limits: Limits,
    applied: Sequence[str],
    started: float,
) -> None:
    """Roll back a ``no-transaction`` migration: its statements one by one in autocommit, then its history row."""
    send(conn, [limits.setup(local=False)])
    try:
        run_sequential(conn, migration, items_of(migration, items), applied, [], transactional=False)
    except MigrationError:
        contention.reset_session(conn, limits)  # the limits were set for the session
        raise
    duration = round((time.perf_counter() - started) * 1000)
    stays = (
        f"{migration.file.name} runs without a transaction: its statements ran and stay applied, but its history "
        "row was not removed."
    )
    conn.execute("BEGIN")
    tail = bookkeeping.history_tail(migration, table, limits, duration)
    _run_tail(conn, migration, table, tail, applied, True, stays)
    _commit(conn, migration, applied)


def _run_transactional(
    conn: Conn,
    migration: Migration,
    items: list[Runnable] | None,
    table: TableName,
    limits: Limits,
    own_transaction: bool,
    applied: Sequence[str],
) -> None:
    tail = bookkeeping.history_tail(migration, table, limits)
    if items is not None and not any(isinstance(i, CopyData) or i.copy for i in items):
        _run_script(conn, migration, items, table, limits, tail, own_transaction, applied)
        return
    # The migration's statements, then sqlmig's own tail in the same transaction, kept apart so that a failure
    # of the tail is reported as sqlmig's, not as the last statement's.
    if own_transaction:
        conn.execute("BEGIN")
    try:
        run_sequential(
            conn,
            migration,
            items_of(migration, items),
            applied,
            [],
            head=[limits.setup(local=True)],
            own_transaction=False,
            whole_run=not own_transaction,
        )
    except (MigrationError, DiscoveryError):
        if own_transaction and not conn.closed and not conn.broken:
            conn.rollback()
        raise
    _run_tail(
        conn, migration, table, tail, applied, own_transaction, bookkeeping.rolled_back(migration, own_transaction)
    )
    if own_transaction:
        _commit(conn, migration, applied)


def _run_tail(
    conn: Conn,
    migration: Migration,
    table: TableName,
    tail: list[Query],
    applied: Sequence[str],
    own_transaction: bool,
    outcome: str,
) -> None:
    """Run sqlmig's own ``tail`` in the open transaction; on failure roll back (``own_transaction``) and raise
    :class:`BookkeepingError` with ``outcome``, or :class:`ConnectionLostError`."""
    try:
        send(conn, tail)
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise failure.lost(exc, migration, None, applied, whole_run=not own_transaction) from exc
        if own_transaction:
            conn.rollback()
        raise bookkeeping.failed(conn, exc, migration, table, outcome=outcome, applied=applied) from exc


def _commit(conn: Conn, migration: Migration, applied: Sequence[str]) -> None:
    try:
        conn.execute("COMMIT")
    except psycopg.Error as exc:  # a deferred constraint of the migration, or a lost connection
        failure.roll_back(conn)
        raise failure.to_error(conn, exc, migration, None, applied) from exc


def _run_script(
    conn: Conn,
    migration: Migration,
    items: list[Runnable],
    table: TableName,
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
    # A newline before each ';': a statement may end with a line comment, which would hide the ';' and run the
    # next part into it.
    script = "\n;\n".join(parts)
    tail_start = first + len(statements)
    try:
        results = wire.exchange(conn, script)
    except wire.Stalled as exc:
        raise stall.to_error(conn, migration, None, exc, alone=own_transaction) from None
    except wire.Lost as exc:  # the results received say which part was running
        running = statements[exc.done - first] if first <= exc.done < tail_start else None
        raise failure.lost(exc, migration, running, applied, whole_run=not own_transaction) from exc
    except psycopg.Error as exc:
        if own_transaction:
            failure.roll_back(conn)
        raise failure.to_error(conn, exc, migration, None, applied, whole_run=not own_transaction) from exc
    errors = [i for i, res in enumerate(results) if res.status == psycopg.pq.ExecStatus.FATAL_ERROR]
    if not errors:
        return
    if tail_start <= errors[0] < tail_start + len(tail) and not conn.closed and not conn.broken:
        if own_transaction:
            conn.rollback()
        outcome = bookkeeping.rolled_back(migration, own_transaction)
        raise bookkeeping.failed(
            conn, wire.error(conn, results[errors[0]]), migration, table, outcome=outcome, applied=applied
        )
    server_error = wire.error(conn, results[errors[0]])
    # The server parses the whole script before it runs any of it: a syntax error comes first, with only its
    # position (counted from the script's start) to say where. Other errors come after one result per statement
    # that ran.
    starts = list(itertools.accumulate((len(p) + 3 for p in parts), initial=0))
    position = server_error.diag.statement_position
    index = bisect.bisect_right(starts, int(position) - 1) - 1 if position else errors[0]
    failed = statements[index - first] if first <= index < first + len(statements) else None
    offset = starts[index]
    if own_transaction:
        failure.roll_back(conn)
    raise failure.to_error(conn, server_error, migration, failed, applied, offset=offset, whole_run=not own_transaction)


def _inline(conn: Conn, query: sql.Composed | str, params: tuple[object, ...]) -> str:
    """``query`` with its parameters bound on the client, for a simple-protocol script."""
    if not params:
        return query if isinstance(query, str) else query.as_string(conn)
    return psycopg.ClientCursor(conn).mogrify(query, params)
