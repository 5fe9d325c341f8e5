"""Statement by statement: files too large to hold in memory, COPY data, and ``no-transaction`` files.

A streamed file is read as it runs. Its statements are decoded line by line for the splitter; COPY data goes from
the file to the server in blocks of bytes, as psql sends it, with no Python work per line.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.copy import LibpqWriter

from ..checks import Validation
from ..errors import DiscoveryError, FileProblem
from ..model import Conn, Migration, Query
from ..reader import RawLines as RawLines  # re-exported: the file reader the runner streams from
from ..reader import check_unchanged, open_streamed
from ..sqltext import CopyData, Runnable, Statement, iter_statements
from . import failure, stall, wire

# How much statement text may be sent ahead of the server's results: libpq buffers what the socket does not take.
_IN_FLIGHT = 2 * 1024 * 1024
_QUEUED = 4  # COPY data blocks (about 1 MiB each) waiting for the sending thread
# A statement at least this long runs on its own, as a simple-protocol query, as psql sends it: in a pipeline
# (extended protocol) the server takes twice as long to parse and plan a statement of tens of megabytes.
_LARGE = 1024 * 1024


class BackgroundWriter(LibpqWriter):
    """Sends COPY data from a thread of its own, so that reading and scanning the next block of the file overlaps
    sending this one (on 2 cores, a 200 MB seed otherwise waits for the one while the server waits for the
    other). At most :data:`_QUEUED` blocks wait, so memory stays flat however slow the server is. The connection
    is used by this thread alone until :meth:`finish`."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue: queue.Queue[Buffer] = queue.Queue(maxsize=_QUEUED)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, data: Buffer) -> None:
        """Queue ``data``; raises what sending the earlier blocks raised."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._send, name="sqlmig-copy", daemon=True)
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        """Send what is queued, then end the COPY (with ``exc``, abort it)."""
        if self._thread is not None:
            self._queue.put(b"")
            self._thread.join()
            self._thread = None
        if self._error is not None and exc is None:
            raise self._error
        super().finish(exc)

    def _send(self) -> None:
        try:
            while data := self._queue.get():
                super().write(data)
        except BaseException as exc:  # handed to the main thread by write() or finish()
            self._error = exc
            while self._queue.get():  # keep taking blocks, or write() would wait forever on a full queue
                pass


def copy_payload(conn: Conn, item: CopyData) -> str | bytes:
    """What to write for ``item``: the file's UTF-8 bytes as they are to a UTF-8 session, else text that psycopg
    encodes in the session's encoding."""
    data = item.data
    return data if isinstance(data, str) or conn.info.encoding == "utf-8" else data.decode()


def send(conn: Conn, queries: list[Query]) -> None:
    """Run ``queries`` one by one."""
    for query, params in queries:
        conn.execute(query, params or None)


def items_of(migration: Migration, items: list[Runnable] | None) -> Iterator[Runnable]:
    """``items``, or when None the statements and COPY data of the file, read as it runs. Each is checked again
    before it is handed on (:mod:`sqlmig.checks`; :func:`sqlmig.run.execute.statements_of` checked the file before
    anything ran), so that a refused statement is never sent even if the file changed since: raises
    :class:`DiscoveryError` there (the caller rolls back what ran in a transaction). When the file is opened and
    after its last item it must still be the file discovery checksummed, whose checksum the history row will
    record (:func:`~sqlmig.reader.check_unchanged`): raises :class:`DiscoveryError` when it was edited since."""
    if items is not None:
        yield from items
        return
    source = migration.source
    validation = Validation(transactional=source.transactional, templated=source.templated)
    with open_streamed(source) as fh:
        for item in iter_statements(RawLines(fh)):
            refused = [p for p in validation.check(item) if p.refused]
            if refused:
                raise DiscoveryError([FileProblem(source.path, p.line, str(p)) for p in refused])
            if isinstance(item, (Statement, CopyData)):
                yield item
        try:
            check_unchanged(source, fh)
        except DiscoveryError:
            done = (
                "what this migration did so far is rolled back and it is not recorded"
                if source.transactional
                else "its statements that ran stay applied (it runs without a transaction) and it is not recorded "
                "as done"
            )
            why = f"was edited while sqlmig was running it: {done}. Run again once the file is as it should be"
            raise DiscoveryError([FileProblem(source.path, 0, why)]) from None


class Statements:
    """One walk over a stream of items: each statement, then the COPY data that follows it. Every path that runs a
    file statement by statement walks one: the pipelined transaction, the no-transaction file and its progress
    records, the no-transaction down. Data the walker does not take (a COPY that completed in an earlier run) is
    passed over. Nothing is read before it is asked for, so a streamed file is read as it runs."""

    def __init__(self, items: Iterable[Runnable]) -> None:
        self._source = iter(items)
        self._ahead: Runnable | None = None  # read, not yet handed on
        self._read = False  # whether _ahead holds the next item
        self.taken = 0  # how many blocks of data of the statement last handed on were taken

    def __iter__(self) -> Iterator[Statement]:
        while (item := self._take()) is not None:
            if isinstance(item, Statement):
                self.taken = 0
                yield item

    def data(self) -> Iterator[CopyData]:
        """The COPY data that follows the statement last handed on (counted in :attr:`taken`)."""
        while isinstance(item := self._peek(), CopyData):
            self._read = False
            self.taken += 1
            yield item

    def following(self) -> Statement | None:
        """The next statement, read ahead (None at the end, or while the current one's data is not taken)."""
        item = self._peek()
        return item if isinstance(item, Statement) else None

    def _peek(self) -> Runnable | None:
        if not self._read:
            self._ahead, self._read = next(self._source, None), True
        return self._ahead

    def _take(self) -> Runnable | None:
        item = self._peek()
        self._read = False
        return item


def copy_in(conn: Conn, statement: Statement, data: Iterable[CopyData]) -> None:
    """Run the ``COPY … FROM stdin`` ``statement`` with ``data``, sent from a thread of its own
    (:class:`BackgroundWriter`). Raises what the server raised."""
    cursor = conn.cursor()
    with cursor.copy(statement.text, writer=BackgroundWriter(cursor)) as copy:
        for block in data:
            copy.write(copy_payload(conn, block))


class _Pipelined:
    """The statements of one transaction sent in pipeline mode: the server runs one while sqlmig splits the next, so
    a large seed takes the server's time, not the server's plus the splitter's. At most :data:`_IN_FLIGHT` bytes
    of statement text wait for their results, so that memory stays flat."""

    def __init__(self, conn: Conn, stack: ExitStack) -> None:
        self.conn, self.stack = conn, stack
        self.piped: psycopg.Pipeline | None = None
        self.in_flight: deque[tuple[Statement, psycopg.Cursor[Any]]] = deque()
        self.queued = 0

    def send(self, statement: Statement) -> None:
        if self.piped is None:
            self.piped = self.stack.enter_context(self.conn.pipeline())
        cursor = self.conn.cursor()
        cursor.execute(statement.text, prepare=False)
        self.in_flight.append((statement, cursor))
        self.queued += len(statement.text)
        if self.queued > _IN_FLIGHT:
            # psycopg's sync flushes once and then waits for results: what the socket did not take would never
            # reach the server, which would wait for it as long as sqlmig waits for it.
            wire.drain(self.conn, stall=None)
            self.piped.sync()
            self.in_flight.clear()
            self.queued = 0

    def finish(self) -> None:
        """Wait for the results of every statement sent, then leave pipeline mode. Raises the first error."""
        if self.piped is None:
            return
        wire.drain(self.conn, stall=None)
        self.stack.close()
        self.piped = None
        self.in_flight.clear()
        self.queued = 0

    def failed(self) -> Statement | None:
        """The statement that failed: in a pipeline an error surfaces later than its statement, and it is the
        first one without a result."""
        return next((st for st, cursor in self.in_flight if cursor.pgresult is None), None)


def run_sequential(
    conn: Conn,
    migration: Migration,
    items: Iterable[Runnable],
    applied: Sequence[str],
    tail: list[Query],
    *,
    head: list[Query] = [],  # noqa: B006 - never mutated
    transactional: bool = True,
    own_transaction: bool = True,
    whole_run: bool = False,
) -> None:
    """Run ``items`` one by one, in one transaction (``BEGIN`` unless the caller holds one: the migration's own,
    or with ``whole_run`` the run's, ``--single-transaction``) or, with ``transactional=False``, each on its own;
    ``head`` goes first and ``tail`` last. Writes. Raises :class:`MigrationError` naming the failing statement,
    :class:`~sqlmig.errors.ConnectionLostError` saying what the server rolled back."""
    # A transactional file's statements go out pipelined (:class:`_Pipelined`); a COPY, not possible in a pipeline,
    # and a very large statement first wait for the statements before them. Autocommit statements run one at a
    # time: in a pipeline they would share an implicit transaction.
    current: Statement | None = None
    begin = transactional and own_transaction
    pipelined: _Pipelined | None = None
    try:
        with ExitStack() as stack:
            pipelined = _Pipelined(conn, stack)
            if begin:
                conn.execute("BEGIN")
            send(conn, head)
            walk = Statements(items)
            for current in walk:
                if current.copy:
                    pipelined.finish()
                    copy_in(conn, current, walk.data())
                elif not transactional:
                    conn.execute(current.text, prepare=False)
                elif len(current.text) >= _LARGE:
                    pipelined.finish()
                    run_alone(conn, current.text)
                else:
                    pipelined.send(current)
            pipelined.finish()
            current = None
            send(conn, tail)
            if begin:
                conn.execute("COMMIT")
    except psycopg.Error as exc:
        failed = (pipelined and pipelined.failed()) or current
        if begin:
            failure.roll_back(conn)
        raise failure.to_error(conn, exc, migration, failed, applied, whole_run=whole_run) from exc
    except wire.Stalled as exc:
        raise stall.to_error(conn, migration, current, exc, alone=not whole_run) from None
    except DiscoveryError:
        if begin and not conn.broken:
            conn.rollback()
        raise


def run_alone(conn: Conn, text: str) -> None:
    """Run one statement as a simple-protocol query. Raises what the server raised, and
    :class:`~sqlmig.run.wire.Stalled` when the connection stops taking it."""
    results = wire.exchange(conn, text)
    failed = next((r for r in results if r.status == psycopg.pq.ExecStatus.FATAL_ERROR), None)
    if failed is not None:
        raise wire.error(conn, failed)
