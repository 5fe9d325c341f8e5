"""The connections of a fan-out's worker threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import psycopg

from .. import config
from ..model import Conn
from ..run.connection import connect


class Workers:
    """The connections of a pool's threads: one kept by each thread (``shared``: targets of one database), or one
    opened and closed for each run; all of them known, so that an interrupt can cancel what runs on them."""

    def __init__(self, shared: bool) -> None:
        self.shared = shared
        self.local = threading.local()
        self.lock = threading.Lock()
        self.open: set[Conn] = set()
        self.stack = ExitStack()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    @contextmanager
    def connection(self, own: config.Settings) -> Iterator[Conn]:
        """The connection of a run to ``own``'s database."""
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
        with self.lock:
            conn = self.stack.enter_context(connect(None, own))
            self.open.add(conn)
        return conn

    def cancel(self) -> None:
        """Cancel the statement running on every open connection."""
        with self.lock:
            running = [c for c in self.open if not c.closed]
        for conn in running:
            with suppress(psycopg.Error):  # the connection went away: nothing runs on it
                conn.cancel()
