"""``-- sqlmig: no-transaction`` files going up: statement by statement in autocommit, resumable.

Such a file cannot be rolled back, so its progress is recorded with each statement (see :mod:`sqlmig.run.progress`).
After a failure (or a crash) and a fix, the next ``up`` checks that the completed statements were not edited and
continues at the one that stopped; when the last statement completes, the row becomes an ordinary history row.

Before each ``CREATE INDEX CONCURRENTLY``, an INVALID index left by an earlier try is dropped or reported (see
:mod:`sqlmig.run.invalidindex`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from ..errors import BookkeepingError, MigrationError, SqlmigError
from ..model import Applied, Conn, InvalidIndexAction, Migration, TableName
from ..sqltext import CopyData, Statement
from . import bookkeeping, contention, failure, notxoutcome, progress, wire
from .contention import Limits
from .invalidindex import drop_invalid_index
from .stream import Statements, copy_in

log = logging.getLogger("sqlmig")


def run_up(
    conn: Conn,
    migration: Migration,
    items: Callable[[], Iterator[Statement | CopyData]],
    table: TableName,
    limits: Limits,
    resume: Applied | None,
    invalid_index: InvalidIndexAction,
    applied: Sequence[str],
) -> None:
    """Run the statements ``items()`` yields, after those ``resume`` says completed, recording progress with
    each one; the last one's record is the ordinary history row. Writes. Raises :class:`MigrationError`
    (``resumable``) when a statement fails, :class:`DriftError` when completed statements were edited,
    :class:`BookkeepingError` when the progress cannot be recorded, :class:`ConnectionLostError`."""
    skip = progress.statements_done(items(), resume)
    run = _Run(conn, migration, table, limits, applied, exists=resume is not None)
    conn.execute(*limits.setup(local=False))
    try:
        walk = Statements(items())
        for item in walk:  # the data of a COPY that completed in an earlier run is passed over
            if run.done < skip:
                run.advance(item.text)
                run.settle()
                continue
            line = failure.file_line(migration, item)
            drop_invalid_index(conn, migration, item, line, invalid_index)
            run.start(line)
            if item.copy:
                run.copy(item, line, walk)
            elif progress.runs_alone(item):
                run.alone(item, line, _line_of(migration, walk.following()))
            else:
                run.together(item, line, _line_of(migration, walk.following()))
        if not run.idle():
            raise run.unended_block()
        if not run.complete:  # nothing left to run: record it as applied
            run.record(None, line=0, after=None)
    finally:
        # The limits and any SET ROLE of the file were set for the session: give the connection back without them.
        contention.reset_session(conn, limits)


def _line_of(migration: Migration, statement: Statement | None) -> int | None:
    """The line in the file where ``statement`` starts (None: no statement, the end of the file)."""
    return failure.file_line(migration, statement) if statement is not None else None


class _Run:
    """The state of one no-transaction file as it runs: what completed, and what of that is durably recorded."""

    def __init__(
        self, conn: Conn, migration: Migration, table: TableName, limits: Limits, applied: Sequence[str], exists: bool
    ) -> None:
        self.conn, self.migration, self.table, self.limits, self.applied = conn, migration, table, limits, applied
        self.started, self.digest = time.perf_counter(), hashlib.sha256()
        self.done = 0  # statements completed
        self.exists = exists  # whether its history row exists, as this session sees it
        self.kept = exists  # whether its history row exists, committed
        self.complete = False
        self.recorded = 0  # statements recorded as done, committed
        self.resume_at = 0  # the line the recorded progress continues at
        self.opened = (1, 0)  # the number and line of the last statement started outside a transaction block

    def advance(self, text: str) -> None:
        self.digest.update(text.encode() + b"\0")
        self.done += 1

    def start(self, line: int) -> None:
        """Statement ``done + 1``, at ``line``, is about to run; a ``BEGIN`` of the file's own makes the ones after
        it part of a transaction block that an error rolls back."""
        if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self.opened = (self.done + 1, line)

    def settle(self, next_line: int = 0) -> None:
        """What ran so far is recorded and committed (unless the file opened a transaction of its own)."""
        if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self.recorded, self.resume_at, self.kept = self.done, next_line, self.exists  # all of it committed

    def script(self, next_line: int | None, *, may_end_block: bool = False) -> str:
        """The progress write; ``may_end_block``: it follows a statement that may end the file's own transaction
        block (COMMIT, ROLLBACK), after which the row is as last committed, which may not be as this session saw
        it inside the block."""
        exists: bool | None = self.exists
        if may_end_block and self.exists != self.kept and not self.idle():
            exists = None
        elapsed = round((time.perf_counter() - self.started) * 1000)
        return progress.write_script(
            self.conn,
            self.migration,
            self.table,
            self.limits,
            done=self.done,
            checksum=self.digest.hexdigest(),
            next_line=next_line,
            exists=exists,
            elapsed_ms=elapsed,
        )

    def together(self, item: Statement, line: int, next_line: int | None) -> None:
        """Run ``item`` and its progress write in one implicit transaction, trying again after lock_timeout."""
        for attempt in contention.attempts(self.limits, self._name(line), "rolled back"):
            before = self.digest.copy()
            self.advance(item.text)
            try:
                # The newline ends a line comment the statement may end with, which would hide the ';'.
                script = self.script(next_line, may_end_block=True)
                results = wire.exchange(self.conn, f"{item.text}\n;\n{script}")
            except wire.Lost as exc:
                self._rewind(before)
                raise self._lost(exc, item, line, rolled_back=exc.done == 0) from exc
            errors = [i for i, r in enumerate(results) if r.status == psycopg.pq.ExecStatus.FATAL_ERROR]
            if not errors:
                self._written(next_line)
                return
            self._rewind(before)
            error = wire.error(self.conn, results[errors[0]])
            idle = self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if errors[0] == 0 and error.diag.sqlstate in progress.ALONE_AFTER and idle:
                self.alone(item, line, next_line)  # nothing of it committed: it runs on its own
                return
            if contention.is_lock_timeout(error.diag.sqlstate) and not attempt.last and idle:
                continue
            if errors[0] == 0:
                raise failure.explain(self.conn, self._failed(error, item, line), self.limits, attempt.number)
            raise self._unrecorded(error, line, self._end_block(line))

    def alone(self, item: Statement, line: int, next_line: int | None) -> None:
        """Run ``item`` in autocommit (PostgreSQL refuses it in a transaction), then its progress write."""
        for attempt in contention.attempts(self.limits, self._name(line), "it did not run"):
            try:
                self.conn.execute(item.text, prepare=False)
                break
            except psycopg.Error as exc:
                if self.conn.closed or self.conn.broken:
                    raise self._lost(exc, item, line, rolled_back=None) from exc
                if not contention.is_lock_timeout(exc.sqlstate) or attempt.last or not self.idle():
                    error = self._failed(exc, item, line)
                    raise failure.explain(self.conn, error, self.limits, attempt.number) from exc
        self.advance(item.text)
        self.record(next_line, line=line, after=f"Statement {self.done} (line {line}) completed, but ")

    def copy(self, item: Statement, line: int, walk: Statements) -> None:
        """Run a COPY with its data (the next of ``walk``) and its progress write in one transaction."""
        for attempt in contention.attempts(self.limits, self._name(line), "rolled back"):
            before = self.digest.copy()
            following: int | None = None
            copied = False
            try:
                with self.conn.transaction(), notxoutcome.quiet_copy_end():
                    copy_in(self.conn, item, walk.data())
                    copied = True
                    self.advance(item.text)
                    following = _line_of(self.migration, walk.following())
                    results = wire.exchange(self.conn, self.script(following))
                    errors = [r for r in results if r.status == psycopg.pq.ExecStatus.FATAL_ERROR]
                    if errors:
                        raise wire.error(self.conn, errors[0])  # leaving the block rolls the COPY back with it
                self._written(following)
                return
            except psycopg.Error as exc:
                if copied:  # its progress was counted for the write that failed with it
                    self._rewind(before)
                if self.conn.closed or self.conn.broken:
                    raise self._lost(exc, item, line, rolled_back=not copied) from exc
                if copied:
                    raise self._unrecorded(exc, line, self._end_block(line)) from exc
                # The lock is taken before the server asks for data: a COPY that timed out waiting for it took none,
                # and can be sent again. Once data was taken, it cannot: the file is read once.
                again = contention.is_lock_timeout(exc.sqlstate) and not walk.taken and not attempt.last
                if again and self.idle():
                    continue
                raise failure.explain(self.conn, self._failed(exc, item, line), self.limits, attempt.number) from exc

    def _unrecorded(self, error: psycopg.Error, line: int, block: str) -> BookkeepingError:
        """The error for a progress write that failed in the transaction of the statement it records; ``block``
        says what of the file's own transaction block was rolled back with them."""
        outcome = f"Statement {self.done + 1} (line {line}) was rolled back together with its progress record. "
        return self._progress_failed(error, block + outcome)

    def _progress_failed(self, error: psycopg.Error, outcome: str) -> BookkeepingError:
        """The error for a failed progress write; ``outcome`` (what was rolled back) comes before what is
        recorded."""
        return bookkeeping.failed(
            self.conn,
            error,
            self.migration,
            self.table,
            outcome=outcome + self._recorded(),
            applied=self.applied,
            doing="record the progress of",
        )

    def record(self, next_line: int | None, *, line: int, after: str | None) -> None:
        """Write the progress of the statements run so far, on its own; ``after`` begins the outcome when it
        fails: the statement that completed without being recorded."""
        for attempt in contention.attempts(self.limits, self._name(line), "its progress record was rolled back"):
            try:
                results = wire.exchange(self.conn, self.script(next_line))
            except wire.Lost as exc:
                unknown = "whether its progress record was committed is unknown: if not, up runs it again. "
                raise self._lost(exc, None, line, rolled_back=None, prefix=(after or "") + unknown) from exc
            errors = [r for r in results if r.status == psycopg.pq.ExecStatus.FATAL_ERROR]
            if not errors:
                self._written(next_line)
                return
            error = wire.error(self.conn, errors[0])
            block = self._end_block(line)
            if contention.is_lock_timeout(error.diag.sqlstate) and not attempt.last and not block:
                continue
            outcome = (after + "it runs outside a transaction, so it could not be recorded with it. ") if after else ""
            raise self._progress_failed(error, block + outcome)

    def _written(self, next_line: int | None) -> None:
        self.exists = True
        self.complete = next_line is None
        self.settle(next_line or 0)

    def _rewind(self, before: Any) -> None:
        self.digest = before
        self.done -= 1

    def _recorded(self) -> str:
        return notxoutcome.recorded(self.migration.file.name, count=self.recorded, kept=self.kept, at=self.resume_at)

    def idle(self) -> bool:
        """Whether no transaction block is open on the connection."""
        return self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def unended_block(self) -> MigrationError:
        """The error for a file that ends inside a transaction block of its own (a BEGIN without its COMMIT): rolls
        the block back, since nothing of it could be kept without the COMMIT the file does not have."""
        self.conn.rollback()
        self.exists = self.kept
        opened, recorded = self.opened, self._recorded()
        return notxoutcome.unended_block(
            self.migration, *opened, self.done, recorded, self.applied, resumable=self.kept
        )

    def _end_block(self, line: int) -> str:
        """Roll back the file's own transaction block, if the failure at ``line`` left one open; says which
        statements it rolled back ("" when none was open)."""
        if self.idle() or self.conn.closed or self.conn.broken:
            return ""
        self.conn.rollback()
        self.exists = self.kept
        return notxoutcome.block(*self.opened, self.done + 1, line)

    def _failed(self, exc: psycopg.Error, item: Statement, line: int) -> SqlmigError:
        """The error for ``item`` (statement ``done + 1``, at ``line``) failing on the server, saying what of the
        file stays applied, what was rolled back and where up continues."""
        block = self._end_block(line)
        error = failure.to_error(self.conn, exc, self.migration, item, self.applied)
        if not isinstance(error, MigrationError):
            return error
        number = self.done + 1
        part = notxoutcome.committed_part(number) if progress.may_commit(item) and not block else ""
        fix = notxoutcome.fix(number, line, kept=self.kept)
        return failure.amend(error, outcome=block + part + self._recorded() + fix)

    def _lost(
        self, exc: psycopg.Error, item: Statement | None, line: int, *, rolled_back: bool | None, prefix: str = ""
    ) -> SqlmigError:
        what = notxoutcome.lost(self.done + 1, line, rolled_back=rolled_back, known=item is not None)
        outcome = prefix + what + self._recorded()
        return bookkeeping.lost(exc, self.migration, item, line=line, outcome=outcome, applied=self.applied)

    def _name(self, line: int) -> str:
        return f"{self.migration.file.name}, statement {self.done + 1} (line {line})"
