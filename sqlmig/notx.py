"""``-- sqlmig: no-transaction`` files going up: statement by statement in autocommit, resumable.

Such a file cannot be rolled back, so its progress is recorded: before each statement after the first, its history
row says how many statements completed, where the next one starts and a checksum of the completed ones. After a
failure (or a crash) and a fix, the next ``up`` checks that the completed statements were not edited and continues
at the one that stopped; when the last statement completes, the row becomes an ordinary history row.

A ``CREATE INDEX CONCURRENTLY`` that fails leaves an INVALID index behind, which would make the retry fail (or,
with ``IF NOT EXISTS``, silently keep an index that is never used). Before each such statement, an INVALID index
of that name is dropped (``invalid_index = "drop"``, the default) or reported (``"refuse"``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError
from psycopg import sql
from psycopg.rows import tuple_row

from . import __version__, contention, failure, history
from .contention import Limits
from .errors import DriftError, PlanError
from .history import TableName
from .model import Applied, Migration
from .render import source_position
from .sqltext import CopyData, Statement
from .stream import copy_payload

log = logging.getLogger("sqlmig")
Conn = psycopg.Connection[Any]

INVALID_INDEXES = """
SELECT n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND i.indrelid = to_regclass(%s) AND (%s::text IS NULL OR c.relname = %s)
"""


def statements_done(items: Iterable[Statement | CopyData], resume: Applied | None) -> int:
    """How many leading statements to skip: those the history row says completed, after checking that they are
    unchanged. Raises :class:`DriftError` when one of them was edited."""
    if resume is None or not resume.statements_done:
        return 0
    digest = hashlib.sha256()
    count = 0
    for item in items:
        if isinstance(item, Statement):
            if count == resume.statements_done:
                break
            digest.update(item.text.encode() + b"\0")
            count += 1
    if count < resume.statements_done or digest.hexdigest() != resume.done_checksum:
        raise DriftError(
            f"{resume.name} stopped after {resume.statements_done} completed statement(s), and those were edited "
            f"since (or removed). Only the statement it stopped at (line {resume.resume_line}) and the ones after "
            "it may change: restore the completed ones. To start over instead, undo what they did by hand and "
            f"delete its row from the history table (name = '{resume.name}').",
            [resume.name],
        )
    return count


def checksum_through(texts: Iterable[str]) -> str:
    """The ``done_checksum`` of a list of completed statements."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


def record_progress(
    conn: Conn, migration: Migration, table: TableName, done: list[str], next_line: int, exists: bool
) -> None:
    """Write (``exists``: update) the history row of a migration that completed the statements ``done`` and goes
    on at ``next_line``. One autocommit statement, so the row is durable before the next statement starts."""
    checksum = checksum_through(done)
    if exists:
        query = sql.SQL(
            "UPDATE {} SET statements_done = %s, resume_line = %s, done_checksum = %s, checksum = %s,"
            " executed_at = now() WHERE name = %s AND type = %s"
        ).format(table.ident)
        params: tuple[object, ...] = (
            len(done),
            next_line,
            checksum,
            migration.file.up.checksum,
            migration.file.name,
            migration.file.track,
        )
    else:
        query = history.progress_query(table)
        f = migration.file
        params = (f.name, f.track, f.version, f.up.checksum, None, None, __version__, len(done), next_line, checksum)
    conn.execute(query, params)


def complete_query(table: TableName) -> sql.Composed:
    """UPDATE that turns a progress row into an ordinary history row. Parameters: checksum, rendered_checksum,
    duration_ms, name, type."""
    return sql.SQL(
        "UPDATE {} SET checksum = %s, rendered_checksum = %s, duration_ms = %s, executed_at = now(),"
        " statements_done = NULL, resume_line = NULL, done_checksum = NULL, executed_by = current_user,"
        " sqlmig_version = %s WHERE name = %s AND type = %s"
    ).format(table.ident)


def drop_invalid_index(conn: Conn, migration: Migration, statement: Statement, line: int, action: str) -> None:
    """Before a ``CREATE INDEX CONCURRENTLY``: drop an INVALID index an earlier try of it left (``action``
    ``"drop"``), or raise :class:`PlanError` saying how to drop it (``"refuse"``, or an unnamed index, whose
    leftover cannot be told apart from other invalid indexes of the table). Writes when it drops."""
    if "concurrently" not in statement.text.lower():
        return
    try:
        stmt = parse_sql(statement.text)[0].stmt
    except (ParseError, IndexError):
        return
    if not isinstance(stmt, ast.IndexStmt) or not stmt.concurrent or stmt.relation is None:
        return
    rel = stmt.relation
    table = sql.Identifier(*(p for p in (rel.schemaname, rel.relname) if p))
    cur = conn.cursor(row_factory=tuple_row)
    found = cur.execute(INVALID_INDEXES, (table.as_string(conn), stmt.idxname, stmt.idxname)).fetchall()
    if not found:
        return
    names = [str(shown) for _, _, shown in found]
    where = f"{migration.source.path}:{line}"
    if stmt.idxname is None or action != "drop":
        why = (
            "this CREATE INDEX CONCURRENTLY has no index name, so sqlmig cannot tell which one an earlier try left"
            if stmt.idxname is None
            else 'invalid_index is "refuse"'
        )
        raise PlanError(
            f"{where}: INVALID index(es) {', '.join(names)}, left by a failed CREATE INDEX "
            f"CONCURRENTLY ({why}). Drop them with DROP INDEX CONCURRENTLY <name>; then run again.",
            [migration.file.name],
        )
    for schema, name, shown in found:
        log.warning("%s: dropping INVALID index %s left by an earlier failed CREATE INDEX CONCURRENTLY", where, shown)
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))


def run_with_retries(conn: Conn, text: str, limits: contention.Limits, name: str) -> None:
    """Execute one autocommit statement, trying again after ``lock_timeout`` as often as ``limits`` allow."""
    for attempt in range(limits.lock_retries + 1):
        try:
            conn.execute(text, prepare=False)
            return
        except psycopg.errors.LockNotAvailable:
            if attempt == limits.lock_retries:
                raise
            pause = limits.backoff(attempt)
            log.warning("%s: lock_timeout (%s) reached; trying again in %.1fs", name, limits.lock_timeout, pause)
            time.sleep(pause)


def run_up(
    conn: Conn,
    migration: Migration,
    items: Callable[[], Iterator[Statement | CopyData]],
    table: TableName,
    limits: Limits,
    resume: Applied | None,
    invalid_index: str,
    applied: Sequence[str],
) -> None:
    """Run the statements ``items()`` yields, after those ``resume`` says completed, recording progress before
    each one; then turn the progress row into an ordinary history row. Writes. Raises :class:`MigrationError`
    (``resumable``) when a statement fails, :class:`DriftError` when completed statements were edited."""
    started = time.perf_counter()
    skip = statements_done(items(), resume)
    done: list[str] = []
    recorded = skip
    index = 0
    current: Statement | None = None
    finished = False
    try:
        conn.execute(*limits.setup(local=False))
        with ExitStack() as stack:
            copy = None
            for item in items():
                if isinstance(item, CopyData):
                    if copy is not None:
                        copy.write(copy_payload(conn, item))
                    continue
                if copy is not None:
                    stack.close()
                    copy = None
                    done.append(current.text if current is not None else "")
                index += 1
                if index <= skip:
                    done.append(item.text)
                    continue
                line = _source_line(migration, item)
                if len(done) > recorded:
                    record_progress(conn, migration, table, done, line, exists=resume is not None or recorded > 0)
                    recorded = len(done)
                current = item
                drop_invalid_index(conn, migration, item, line, invalid_index)
                if item.copy:
                    copy = stack.enter_context(conn.cursor().copy(item.text))
                else:
                    run_with_retries(conn, item.text, limits, migration.file.name)
                    done.append(item.text)
            stack.close()
            if copy is not None:
                done.append(current.text if current is not None else "")
        current = None
        duration = round((time.perf_counter() - started) * 1000)
        f = migration.file
        with conn.transaction():
            _reset(conn, limits)
            if resume is not None or recorded > 0:
                params = (f.up.checksum, migration.rendered_checksum, duration, __version__, f.name, f.track)
                conn.execute(complete_query(table), params)
            else:
                conn.execute(
                    history.record_query(table), history.record_params(f, migration.rendered_checksum, duration)
                )
        finished = True
    except psycopg.Error as exc:
        error = failure.to_error(conn, exc, migration, current, applied, rollback=False)
        raise failure.explain(conn, error, limits, limits.lock_retries) from exc
    finally:
        # The limits were set for the session: on any failure, give the connection back without them.
        healthy = not conn.closed and not conn.broken
        if not finished and healthy and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            _reset(conn, limits)


def _source_line(migration: Migration, item: Statement) -> int:
    if migration.sql is None:
        return item.line
    return source_position(migration.source, migration.sql, item.line, item.column)[0]


def _reset(conn: Conn, limits: contention.Limits) -> None:
    for query in limits.teardown():
        conn.execute(query)
