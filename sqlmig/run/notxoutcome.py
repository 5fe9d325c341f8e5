"""What a failure leaves of a ``no-transaction`` file: the texts that say which statements stay applied, which the
server rolled back, what the history records and where ``up`` continues; and the error for a file that ends
inside a transaction block of its own.

Pure: the numbers come from the runner in :mod:`sqlmig.run.notx`, which knows what completed and what was committed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

from ..errors import MigrationError
from ..model import Migration


def recorded(name: str, *, count: int, kept: bool, at: int) -> str:
    """What stays applied and is recorded: the first ``count`` statements, committed with their progress (``kept``:
    whether the history holds a row of the file at all); ``at`` is the line up continues at (0: unknown)."""
    if not count and not kept:
        return f"{name} runs without a transaction: none of its statements is recorded, and up runs it from the start."
    where = f" (line {at})" if at else ""
    return (
        f"{name} runs without a transaction: its first {count} statement(s) stay applied and are recorded "
        f"as done; up continues at statement {count + 1}{where}."
    )


def block(first: int, first_line: int, last: int, line: int) -> str:
    """Statements ``first`` (at ``first_line``) to ``last`` (at ``line``) ran in the file's own transaction block,
    which the server rolled back."""
    return (
        f"Statements {first} to {last} (lines {first_line} to {line}) ran in the file's own transaction block, "
        "and the server rolled them all back. "
    )


def committed_part(number: int) -> str:
    """Statement ``number`` (DO, CALL) failed after running on its own: a COMMIT in its code kept what came
    before it."""
    return (
        f"If statement {number} committed part of its work before it failed (a COMMIT in its code), that part "
        "stays applied: make it safe to repeat. "
    )


def fix(number: int, line: int, *, kept: bool) -> str:
    """What to do after statement ``number`` (at ``line``) failed."""
    partial = " ('status' shows it as partial)" if kept else ""
    return f" Fix statement {number} (line {line}) and run up again{partial}."


def lost(number: int, line: int, *, rolled_back: bool | None, known: bool) -> str:
    """What became of statement ``number`` (at ``line``) when the connection was lost while it ran: the server
    rolled it back (``rolled_back``), it ran on its own and may have completed (None), or it commits together with
    its progress record (False). ``known``: a statement was concerned at all."""
    if rolled_back:
        return f"The server rolled statement {number} (line {line}) back. "
    if not known:
        return ""
    if rolled_back is None:
        return (
            f"Whether statement {number} (line {line}) completed is unknown: it runs outside a transaction, and up "
            "runs it again (an INVALID index from an unfinished CREATE INDEX CONCURRENTLY is dropped first). "
        )
    return (
        f"Statement {number} (line {line}) commits together with its progress record: if that commit went "
        "through, the history records it and up continues after it; if not, up runs it again. "
    )


class _CopyEndFilter(logging.Filter):
    """Drops psycopg's warning that ending a failed COPY failed too: the connection was lost, and the error raised
    for the COPY says so and what became of the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error ignored terminating")


@contextlib.contextmanager
def quiet_copy_end() -> Iterator[None]:
    """While it is open, psycopg does not print (to stderr, when logging is not configured) that it could not end
    a COPY on a connection that was lost: sqlmig's own error says it."""
    logger, quiet = logging.getLogger("psycopg"), _CopyEndFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def unended_block(
    migration: Migration,
    first: int,
    first_line: int,
    last: int,
    recorded: str,
    applied: Sequence[str],
    *,
    resumable: bool,
) -> MigrationError:
    """The error for a file whose statements ``first`` (at ``first_line``) to ``last`` ran in a transaction block
    of its own that the file never ends, and that was rolled back; ``recorded`` says what stays applied, and
    ``resumable`` whether its progress is recorded."""
    return MigrationError(
        path=migration.source.path,
        name=migration.file.name,
        line=first_line,
        column=1,
        statement="BEGIN",
        sqlstate=None,
        message="the file ends inside a transaction block of its own: a BEGIN without its COMMIT",
        hint="end the block with COMMIT (or remove its BEGIN), then run up again",
        applied=tuple(applied),
        rolled_back=False,
        resumable=resumable,
        outcome=f"Statements {first} to {last} (lines {first_line} on) ran in the file's own transaction block, "
        f"which the file never ends: sqlmig rolled them back. {recorded}",
    )
