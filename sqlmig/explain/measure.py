"""Running one pending migration on the scratch database statement by statement, as sqlmig runs it (one
transaction, or each statement on its own for ``-- sqlmig: no-transaction``), reading between two statements what
the statement locked and rewrote (:mod:`sqlmig.explain.probe`), and recording the migration in the scratch
database's history as ``up`` does."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg

from .. import config
from ..errors import MigrationError
from ..model import Migration, TableName
from ..run import bookkeeping, contention, failure
from ..run.contention import Limits
from ..run.progress import ALONE_AFTER
from ..run.stream import Statements, copy_in, items_of, send
from ..sqltext import Runnable, Statement
from . import probe, watch
from .report import FileExplained, LockTaken, StatementExplained

_IDLE = psycopg.pq.TransactionStatus.IDLE
# A no-transaction file may open and end transaction blocks of its own: those statements run as they are.
_TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT)\b", re.IGNORECASE)
_SCRATCH = "explain ran it on a scratch database, which is dropped: the database was not changed."


class FileRun:
    """One migration being measured on ``conn`` (autocommit, holding the migration lock); ``settings`` name the
    scratch database, for the sessions that watch a statement run outside a transaction."""

    def __init__(
        self, conn: psycopg.Connection[Any], migration: Migration, limits: Limits, settings: config.Settings
    ) -> None:
        self.conn, self.migration, self.limits, self.settings = conn, migration, limits, settings
        self.results: list[StatementExplained] = []
        self.existing: Mapping[int, tuple[str, int]] = {}  # the relations when the current transaction began
        self.current: Statement | None = None

    def run(self, items: list[Runnable] | None, table: TableName) -> FileExplained:
        """Run and measure every statement, then record the migration. Writes the scratch database. Raises
        :class:`MigrationError` naming the file and line of a statement that failed."""
        started = time.perf_counter()
        source = self.migration.source
        try:
            if source.transactional:
                self._transaction(self._walk(items))
            else:
                self._each_alone(self._walk(items))
                self.current = None
                if self.conn.info.transaction_status != _IDLE:
                    failure.roll_back(self.conn)
                    raise self._unended()
            self.current = None
            tail = bookkeeping.history_tail(self.migration, table, self.limits, round(self._ms(started)))
            if self.conn.info.transaction_status == _IDLE:  # a transactional file's block is still open: same COMMIT
                self.conn.execute("BEGIN")
            send(self.conn, tail)
            self.conn.execute("COMMIT")
        except psycopg.Error as exc:
            if not self.conn.broken and self.conn.info.transaction_status != _IDLE:
                failure.roll_back(self.conn)
            error = failure.to_error(self.conn, exc, self.migration, self.current, ())
            raise (on_scratch(error) if isinstance(error, MigrationError) else error) from exc
        finally:
            contention.reset_session(self.conn, self.limits)
        f = self.migration.file
        return FileExplained(f.track, f.name, source.path, source.transactional, tuple(self.results))

    def _unended(self) -> MigrationError:
        """The error for a ``no-transaction`` file that ends inside a transaction block it opened, which ``up``
        refuses too: nothing of the block could be kept without its COMMIT."""
        return MigrationError(
            path=self.migration.source.path,
            name=self.migration.file.name,
            line=0,
            column=0,
            statement="(the end of the file)",
            sqlstate=None,
            message="the file ends inside a transaction block it opened: a BEGIN without its COMMIT",
            rolled_back=False,
            outcome=_SCRATCH,
        )

    def _walk(self, items: list[Runnable] | None) -> Iterator[tuple[Statement, Statements]]:
        walk = Statements(items_of(self.migration, items))
        for statement in walk:
            self.current = statement
            yield statement, walk

    def _transaction(self, statements: Iterator[tuple[Statement, Statements]]) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute(*self.limits.setup(local=True))
        state = probe.read(self.conn)
        self.existing = state.relations
        for statement, walk in statements:
            state = self._measured(statement, walk, state)

    def _each_alone(self, statements: Iterator[tuple[Statement, Statements]]) -> None:
        self.conn.execute(*self.limits.setup(local=False))
        for statement, walk in statements:
            if self.conn.info.transaction_status != _IDLE or _TRANSACTION_CONTROL.match(statement.text):
                # In (or opening, or ending) a block of the file's own: measured as one of its statements.
                state = probe.read(self.conn)
                if self.conn.info.transaction_status == _IDLE:
                    self.existing = state.relations
                self._measured(statement, walk, state)
                continue
            # Alone, in autocommit, a statement is its own transaction: in a block of one statement it does the
            # same, and its locks can be read before the block commits.
            self.conn.execute("BEGIN")
            state = probe.read(self.conn)
            self.existing = state.relations
            try:
                self._measured(statement, walk, state)
            except psycopg.Error as exc:
                if exc.sqlstate not in ALONE_AFTER or self.conn.broken:
                    raise
                # PostgreSQL refuses it in a transaction block (25001), or its code commits (2D000): nothing of
                # it ran. It runs alone, watched from other sessions.
                failure.roll_back(self.conn)
                self._watched(statement, walk)
                continue
            self.conn.execute("COMMIT")

    def _measured(self, statement: Statement, walk: Statements, before: probe.State) -> probe.State:
        """Run ``statement`` where the connection is and read its locks and rewrites after it."""
        started = time.perf_counter()
        self._execute(statement, walk)
        elapsed = self._ms(started)
        after = probe.read(self.conn)
        locks = probe.taken(after.locks, before, after, self.existing)
        self._add(statement, elapsed, locks, probe.rewritten(before, after), sampled=False)
        return after

    def _watched(self, statement: Statement, walk: Statements) -> None:
        """Run ``statement`` in autocommit while other sessions sample its locks (:mod:`sqlmig.explain.watch`)."""
        before = probe.read(self.conn)
        with watch.watching(self.settings, self.conn.info.backend_pid) as watcher:
            started = time.perf_counter()
            self._execute(statement, walk)
            elapsed = self._ms(started)
        after = probe.read(self.conn)
        locks = probe.taken(watcher.seen, before, after, before.relations)
        elapsed = max(elapsed - watcher.paused_ms, 0.0)
        self._add(statement, elapsed, locks, probe.rewritten(before, after), sampled=True)

    def _execute(self, statement: Statement, walk: Statements) -> None:
        if statement.copy:
            copy_in(self.conn, statement, walk.data())
        else:
            self.conn.execute(statement.text, prepare=False)

    def _add(
        self, statement: Statement, ms: float, locks: tuple[LockTaken, ...], rewrites: tuple[str, ...], *, sampled: bool
    ) -> None:
        first = next(iter(statement.text.splitlines()), "")
        line = failure.file_line(self.migration, statement)
        self.results.append(StatementExplained(line, first, round(ms, 1), locks, rewrites, sampled))

    @staticmethod
    def _ms(started: float) -> float:
        return (time.perf_counter() - started) * 1000


def on_scratch(exc: MigrationError) -> MigrationError:
    """``exc`` saying that it happened on the scratch database, which leaves the database untouched, instead of
    what a failure during ``up`` leaves behind."""
    return MigrationError(
        path=exc.path,
        name=exc.name,
        line=exc.line,
        column=exc.column,
        statement=exc.statement,
        sqlstate=exc.sqlstate,
        message=exc.message,
        detail=exc.detail,
        hint=exc.hint,
        rolled_back=False,
        outcome=_SCRATCH,
    )
