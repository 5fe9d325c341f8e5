"""Knowing, from a test in the same process, that sessions wait for the migration lock: before each idle wait for
the holder's release, a waiter logs at debug level that it listens on the lock's channel."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LISTENING_LOG = "listening on sqlmig_lock_"


class Waiters(logging.Handler):
    """The threads that have logged that they wait for the release of the migration lock."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.threads: set[int | None] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(LISTENING_LOG):
            self.threads.add(record.thread)

    def count(self) -> int:
        return len(self.threads)


@contextmanager
def watching_waiters() -> Iterator[Waiters]:
    """A :class:`Waiters` attached to the ``sqlmig`` logger (set to debug level) for the ``with`` block."""
    logger = logging.getLogger("sqlmig")
    handler, level = Waiters(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
