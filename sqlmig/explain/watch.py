"""The locks of a statement that runs outside a transaction block (``CREATE INDEX CONCURRENTLY``, ``VACUUM``,
``REINDEX CONCURRENTLY`` …), seen from other sessions while it runs.

Such a statement commits on its own and releases its locks as it ends, so its own session cannot read them after
it. Two more sessions on the scratch database watch it instead: one samples the statement's backend's granted
relation locks about every millisecond; the other holds a transaction with an open snapshot from before the
statement began. The statements that wait for older transactions (the concurrent index builds wait for every
snapshot older than theirs) stop there with their locks held; the sampler sees that the backend is blocked by
the snapshot's session, reads its locks and ends that transaction, and the statement goes on. How long it was held
is taken out of its time. A statement that waits for no one (``VACUUM``, ``DROP INDEX CONCURRENTLY``) is only
sampled, and one that takes a lock for less than a sample's time may finish between two samples."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from .. import config
from ..errors import DatabaseError, SqlmigError
from ..run.connection import connect
from .probe import FIRST_USER_OID, Lock

_SAMPLE = f"""
SELECT %(holder)s = ANY(pg_catalog.pg_blocking_pids(%(pid)s)),
       ARRAY(SELECT l.relation::text || ' ' || l.mode FROM pg_catalog.pg_locks l
             WHERE l.pid = %(pid)s AND l.granted AND l.locktype = 'relation' AND l.relation >= {FIRST_USER_OID})
"""
_INTERVAL = 0.001  # seconds between samples
_READY_TIMEOUT = 60.0  # seconds to open the two sessions: a connection's own timeout ends it first


class Watch:
    """Samples the relation locks of backend ``pid`` from its own thread, from :meth:`start` to :meth:`stop`,
    on the database ``settings`` name. ``seen`` holds every (OID, mode) seen granted; ``paused_ms`` how long the
    backend was kept waiting for the snapshot this watch held."""

    def __init__(self, settings: config.Settings, pid: int) -> None:
        self.settings, self.pid = settings, pid
        self.seen: set[Lock] = set()
        self.paused_ms = 0.0
        self._ready, self._done = threading.Event(), threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sqlmig-explain-watch", daemon=True)

    def start(self) -> None:
        """Open the two sessions and take the snapshot; return once both are ready. Raises
        :class:`~sqlmig.DatabaseError` (or what connecting raised) when they cannot be opened."""
        self._thread.start()
        self._ready.wait(_READY_TIMEOUT)
        if self._error is not None or not self._ready.is_set():
            self.stop()
            raise self._failed()

    def stop(self) -> None:
        """Take a last sample, release the snapshot and close the sessions. Raises
        :class:`~sqlmig.DatabaseError` when sampling failed."""
        self._done.set()
        self._thread.join()
        if self._error is not None:
            raise self._failed()

    def _failed(self) -> BaseException:
        error = self._error
        if isinstance(error, psycopg.Error) or error is None:
            reason = str(error).strip() if error else "the sessions did not open in time"
            return DatabaseError(f"could not watch the locks of a statement from another session: {reason}")
        return error

    def _run(self) -> None:
        try:
            with connect(None, self.settings) as sampler, connect(None, self.settings) as holder:
                holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                holder.execute("SELECT 1")  # the snapshot is taken by the transaction's first query
                self._ready.set()
                self._sample_until_done(sampler, holder)
        except BaseException as exc:  # handed to the caller's thread by start() or stop()
            self._error = exc
            self._ready.set()

    def _sample_until_done(self, sampler: psycopg.Connection[Any], holder: psycopg.Connection[Any]) -> None:
        holding = True
        params = {"pid": self.pid, "holder": holder.info.backend_pid}
        while True:
            last = self._done.is_set()  # one more sample after the statement ended costs nothing
            sampled_at = time.perf_counter()
            row = sampler.execute(_SAMPLE, params).fetchone()
            assert row is not None  # a SELECT without FROM returns one row
            blocked, locks = row
            for text in locks:
                oid, mode = str(text).split(" ", 1)
                self.seen.add((int(oid), mode))
            if holding and blocked:
                # Held since about when this sample began (at most one interval earlier): count from there.
                holder.execute("ROLLBACK")
                holding = False
                self.paused_ms += (time.perf_counter() - sampled_at) * 1000
            if last:
                return
            time.sleep(_INTERVAL)


@contextmanager
def watching(settings: config.Settings, pid: int) -> Iterator[Watch]:
    """A started :class:`Watch` of backend ``pid``, stopped on the way out (also when the body raises: then a
    sampling error does not hide the body's)."""
    watch = Watch(settings, pid)
    watch.start()
    try:
        yield watch
    except BaseException:
        _stop_quietly(watch)
        raise
    watch.stop()


def _stop_quietly(watch: Watch) -> None:
    with suppress(SqlmigError):  # DatabaseError, or the sampler's own connection failing (ConnectError, …)
        watch.stop()
