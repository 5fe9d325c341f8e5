"""The progress of a ``no-transaction`` file in its history row: what it records, and the check on resume.

After each statement, the row says how many statements completed (``statements_done``), where the next one starts
(``resume_line``) and a SHA-256 of the completed ones (``done_checksum``); after the last, it becomes an ordinary
history row. A statement that can run in a transaction is sent together with that write, in one implicit
transaction: either both commit or neither does, so a resume never repeats it, whatever fails in between. The
statements PostgreSQL runs only outside a transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``, …) and those that
may end transactions of their own (``DO`` and ``CALL``, which may ``COMMIT``) run on their own, and their progress
is written right after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import psycopg
from psycopg import sql

from ..errors import DriftError
from ..model import Applied, Conn, Migration, TableName
from ..sqltext import CopyData, Statement
from ..version import __version__
from . import bookkeeping, history
from .contention import Limits

# Statements that PostgreSQL refuses inside a transaction block (or that gain nothing from one), and DO and CALL:
# their code may COMMIT or ROLLBACK (a backfill in batches), which PostgreSQL allows only when the statement is not
# part of a multi-statement query. A statement this misses is refused by the server before anything of it commits
# (SQLSTATE 25001, or 2D000 from a COMMIT in its code) and is then run on its own.
_OWN_RUN = re.compile(
    r"\s*(DO|CALL|VACUUM|DISCARD|CLUSTER|REINDEX|ALTER\s+SYSTEM|(CREATE|DROP)\s+(DATABASE|TABLESPACE)|"
    r"(CREATE|ALTER|DROP)\s+SUBSCRIPTION|(COMMIT|ROLLBACK)\s+PREPARED)\b",
    re.IGNORECASE,
)
# Errors of a statement sent with its progress write after which it runs on its own: refused in a transaction block
# (25001), or a COMMIT or ROLLBACK in the code of a DO block or procedure, refused in a multi-statement query
# (2D000). Either way the implicit transaction of that send, with what the statement did, was rolled back.
ALONE_AFTER = ("25001", "2D000")
_MAY_COMMIT = re.compile(r"\s*(DO|CALL)\b", re.IGNORECASE)
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def may_commit(statement: Statement) -> bool:
    """Whether ``statement`` runs code that may COMMIT part of its work (DO, CALL)."""
    return _MAY_COMMIT.match(statement.text) is not None


def runs_alone(statement: Statement) -> bool:
    """Whether ``statement`` runs on its own rather than in one transaction with its progress write."""
    return _OWN_RUN.match(statement.text) is not None or _CONCURRENTLY.search(statement.text) is not None


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


def write_script(
    conn: Conn,
    migration: Migration,
    table: TableName,
    limits: Limits,
    *,
    done: int,
    checksum: str,
    next_line: int | None,
    exists: bool | None,
    elapsed_ms: int,
) -> str:
    """The statements that record ``done`` completed statements (``next_line`` None: all of them, so the row
    becomes an ordinary history row), as one simple-protocol script to send after the statement or alone.
    ``exists``: whether the row exists (None: unknown, so it is deleted and written again)."""
    f = migration.file
    writes: list[tuple[sql.Composed, tuple[object, ...]]] = []
    if exists is None:
        writes.append((history.unrecord_query(table), (f.name, f.track)))
    write: tuple[sql.Composed, tuple[object, ...]]
    if next_line is None and exists is None:
        write = (history.record_query(table), history.record_params(f, migration.rendered_checksum, elapsed_ms))
    elif next_line is None and exists:
        write = (
            history.complete_query(table),
            (f.up.checksum, migration.rendered_checksum, elapsed_ms, __version__, f.name, f.track),
        )
    elif next_line is None:  # its one statement just ran: the server measures the time since the transaction began
        write = (history.record_query(table), history.record_params(f, migration.rendered_checksum, None))
    elif exists:
        write = (history.update_query(table), (done, next_line, checksum, f.up.checksum, f.name, f.track))
    else:
        values = (f.name, f.track, f.version, f.up.checksum, None, None, __version__, done, next_line, checksum)
        write = (history.progress_query(table), values)
    mogrify = psycopg.ClientCursor(conn).mogrify
    guard, bounds = limits.guard()
    writes.append(write)
    parts = [bookkeeping.AS_CONNECTING_USER, mogrify(guard, bounds), bookkeeping.lock_check(table)]
    parts += [mogrify(*w) for w in writes]
    return ";\n".join(parts)
