"""The worker threads of a fan-out and their connections.

``jobs`` threads take the runs in order, each keeping one connection (targets of one database) or opening one per
run. A thread the server has no connection for (SQLSTATE 53300: ``max_connections``, or the role's or the
database's ``CONNECTION LIMIT``) gives its run back to the others and stops, so that a ``--jobs`` beyond what the
server allows runs on the connections it has instead of failing targets.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import TYPE_CHECKING, Generic, TypeVar

import psycopg

from .. import config
from ..errors import ConnectError, StoppedMigration
from ..model import Conn
from ..run.connection import connect
from .report import TargetResult

if TYPE_CHECKING:
    from ..run.runner import PrepareCache

log = logging.getLogger("sqlmig")
T = TypeVar("T")
R = TypeVar("R")

# The server's words for SQLSTATE 53300 at connection time: "sorry, too many clients already", "too many
# connections for role/database …", "remaining connection slots are reserved for …". libpq keeps no SQLSTATE for a
# connection it could not open, so its message is all there is to go by; a server whose lc_messages is not English
# words them otherwise, and then the worker fails its targets as it would for any other refusal.
_TOO_MANY = re.compile(r"too many (?:connections|clients)|remaining connection slots are reserved", re.IGNORECASE)
# The one refusal of them that concerns a single database: its own CONNECTION LIMIT.
_DATABASE_LIMIT = re.compile(r"too many connections for database", re.IGNORECASE)


def too_many_connections(exc: ConnectError) -> bool:
    """Whether ``exc`` is the server refusing a new connection because its connections are all taken (SQLSTATE
    53300), rather than a connection lost during a migration or any other refusal. Pure."""
    return not isinstance(exc, StoppedMigration) and _TOO_MANY.search(str(exc)) is not None


class NoConnection(Exception):
    """The server refused a worker's new connection because its connections are all taken; ``error`` is the
    :class:`~sqlmig.ConnectError` that says so. Not a :class:`~sqlmig.SqlmigError`: the pool handles it."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(str(error))
        self.error = error


class Workers:
    """The connections of a pool's threads: one kept by each thread (``shared``: targets of one database), or one
    opened and closed for each run; all of them known, so that an interrupt can cancel what runs on them."""

    def __init__(self, shared: bool) -> None:
        self.shared = shared
        self.local = threading.local()
        self.lock = threading.Lock()
        self.open: set[Conn] = set()
        self.opened = 0  # connections the server gave: none means that no worker could connect
        self.stack = ExitStack()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    @contextmanager
    def connection(self, own: config.Settings) -> Iterator[Conn]:
        """The connection of a run to ``own``'s database. Raises :class:`NoConnection` when the server has no
        connection left for a new one, and :func:`~sqlmig.run.connection.connect`'s errors otherwise."""
        if self.shared:
            conn: Conn | None = getattr(self.local, "conn", None)
            if conn is None or conn.closed or conn.broken:
                conn = self.local.conn = self._open(own)
            yield conn
            return
        conn = self._open(own)
        try:
            yield conn
        finally:
            with self.lock:
                self.open.discard(conn)
            conn.close()

    def _open(self, own: config.Settings) -> Conn:
        opening = connect(None, own)
        try:
            conn = opening.__enter__()  # not under the lock: cancel() must not wait for a server that is slow to answer
        except ConnectError as exc:
            # Targets that are databases of their own: one database at its own limit says nothing of the others,
            # and is that target's failure, as for an ordinary run on it; the thread goes on with the next one.
            if too_many_connections(exc) and (self.shared or not _DATABASE_LIMIT.search(str(exc))):
                raise NoConnection(exc) from exc
            raise
        with self.lock:
            self.stack.push(opening)
            self.open.add(conn)
            self.opened += 1
        return conn

    def cancel(self) -> None:
        """Cancel the statement running on every open connection."""
        with self.lock:
            running = [c for c in self.open if not c.closed]
        for conn in running:
            with suppress(psycopg.Error):  # the connection went away: nothing runs on it
                conn.cancel()

    def map(
        self,
        run: Callable[[T], R],
        items: Sequence[T],
        jobs: int,
        *,
        refused: Callable[[T, ConnectError], R],
        stop: Callable[[], None],
    ) -> Generator[R, None, None]:
        """``run`` on each of ``items`` on at most ``jobs`` threads; yields the results in the items' order.

        A thread whose ``run`` raises :class:`NoConnection` gives its item back to the other threads and stops,
        and one warning at the end says how many connections the server took; the last thread left does not give
        up: its item's result is ``refused(item, error)``, so items fail for want of a connection only when no
        thread can connect. An item is taken by one thread at a time and given back only before it ran. An
        interrupt (Ctrl-C, or the iterator closed) calls ``stop``, cancels the statements running on every
        connection, starts no other item and waits for the threads before it goes on. An exception of ``run`` or
        ``refused`` other than :class:`NoConnection` stops the pool and is raised here."""
        queue: _Queue[T, R] = _Queue(items, max(1, min(jobs, len(items))))
        threads = [
            threading.Thread(target=self._work, args=(queue, run, refused), name=f"sqlmig-{n}")
            for n in range(queue.alive)
        ]
        for thread in threads:
            thread.start()
        finished = False
        try:
            for index in range(len(items)):
                yield queue.result(index)
            finished = True
        finally:
            if not finished:
                stop()
                queue.close()
                self.cancel()
            for thread in threads:
                thread.join()
        kept = len(threads) - queue.stopped
        if queue.stopped and self.opened:
            connections = "connection" if kept == 1 else "connections"
            log.warning("--jobs %d: the server took %d %s; running %d at a time", jobs, kept, connections, kept)

    def _work(self, queue: _Queue[T, R], run: Callable[[T], R], refused: Callable[[T, ConnectError], R]) -> None:
        try:
            while (taken := queue.take()) is not None:
                index, item = taken
                try:
                    result = run(item)
                except NoConnection as exc:
                    if queue.give_back(taken):
                        return
                    result = refused(item, exc.error)
                queue.put(index, result)
        except BaseException as exc:  # a defect, not a target's failure (run reports those): raised by map
            queue.fail(exc)


class _Queue(Generic[T, R]):
    """The items of a pool not yet taken, the results not yet yielded, and the threads that may still take one."""

    def __init__(self, items: Sequence[T], threads: int) -> None:
        self.waiting: deque[tuple[int, T]] = deque(enumerate(items))
        self.results: dict[int, R] = {}
        self.running = 0  # items taken and not yet done: one of them may still be given back
        self.alive = threads  # threads that have not stopped
        self.stopped = 0  # threads that gave their item back for want of a connection
        self.closed = False
        self.failure: BaseException | None = None
        self.cond = threading.Condition()

    def take(self) -> tuple[int, T] | None:
        """The next item and its index; None, and the thread stops, when the pool is closed or every item is done.
        While the last items run, it waits: their threads may give them back."""
        with self.cond:
            while not self.waiting and self.running and not self.closed:
                self.cond.wait()
            if self.closed or not self.waiting:
                self.alive -= 1
                self.cond.notify_all()
                return None
            self.running += 1
            return self.waiting.popleft()

    def put(self, index: int, result: R) -> None:
        with self.cond:
            self.results[index] = result
            self.running -= 1
            self.cond.notify_all()

    def give_back(self, taken: tuple[int, T]) -> bool:
        """Put ``taken`` back first in line for another thread, and stop this one; False, and nothing changes, when
        this is the last thread left."""
        with self.cond:
            if self.alive <= 1:
                return False
            self.waiting.appendleft(taken)
            self.running -= 1
            self.alive -= 1
            self.stopped += 1
            self.cond.notify_all()
            return True

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            self.failure = self.failure or exc
            self.closed = True
            self.alive -= 1
            self.cond.notify_all()

    def close(self) -> None:
        """Let no thread take another item."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def result(self, index: int) -> R:
        """The result of item ``index``, once a thread has put it. Raises the exception a thread failed with."""
        with self.cond:
            while index not in self.results and self.failure is None and self.alive:
                self.cond.wait()
            if self.failure is not None:
                raise self.failure
            if index not in self.results:  # every thread stopped without it: a defect of this class
                raise RuntimeError(f"the fan-out's threads stopped before item {index} ran")
            return self.results.pop(index)


class Tally:
    """What the workers share: how many targets failed, whether to start another, the prepared plain files."""

    def __init__(self, max_failures: int | None, on_result: Callable[[TargetResult], None] | None) -> None:
        self.max_failures, self.on_result = max_failures, on_result
        self._cache: PrepareCache | None = None
        self.cancelled = False
        self.failures = 0
        self.lock = threading.Lock()

    @property
    def cache(self) -> PrepareCache:
        """What the targets prepare once (made when the first target has work: the no-op loads no parser)."""
        with self.lock:
            if self._cache is None:
                from ..run.runner import PrepareCache

                self._cache = PrepareCache()
            return self._cache

    def stopped(self) -> bool:
        with self.lock:
            return self.cancelled or (self.max_failures is not None and self.failures >= self.max_failures)

    def cancel(self) -> None:
        """Start no other run: the fan-out was interrupted."""
        with self.lock:
            self.cancelled = True

    def add(self, result: TargetResult) -> TargetResult:
        with self.lock:
            self.failures += result.status == "failed"
        if self.on_result is not None:
            self.on_result(result)
        return result
