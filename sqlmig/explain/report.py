"""What ``sqlmig explain`` measured: per migration file, per statement, the locks it took, the relations it
rewrote and its time. Frozen data, no presentation (the CLI formats it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model import Track


@dataclass(frozen=True)
class LockTaken:
    """A lock a statement took: ``mode`` as ``pg_locks`` names it (``AccessExclusiveLock``, ``ShareLock`` …) on
    ``relation`` (schema-qualified, quoted where needed). ``new``: the relation did not exist when the statement's
    transaction began, so no other session could be waiting for it."""

    mode: str
    relation: str
    new: bool = False


@dataclass(frozen=True)
class StatementExplained:
    """One statement as it ran on the scratch database: its ``line`` in the file as written, its first line of
    text (``statement``), the locks it took that its transaction did not hold before it (``locks``), the
    relations whose storage it replaced (``rewrites``: the ``relfilenode`` changed) and its time in milliseconds.
    ``sampled``: it ran outside a transaction block, so its locks were read from another session while it ran
    (see :mod:`sqlmig.explain.watch`) rather than after it."""

    line: int
    statement: str
    duration_ms: float
    locks: tuple[LockTaken, ...] = ()
    rewrites: tuple[str, ...] = ()
    sampled: bool = False


@dataclass(frozen=True)
class FileExplained:
    """One pending migration measured: its ``track``, ``name`` and ``path``, whether it ran in one transaction
    (``transactional``; False for ``-- sqlmig: no-transaction``) and its statements in file order."""

    track: Track
    name: str
    path: Path
    transactional: bool
    statements: tuple[StatementExplained, ...]


@dataclass(frozen=True)
class ExplainReport:
    """What :func:`sqlmig.explain.explain` found: the pending migrations measured (``files``, in the order
    ``up`` would apply them, seeds after migrations) and the migrations already applied on the database
    (``applied``), which were applied on the scratch database first without being measured. Nothing pending is an
    empty ``files``."""

    files: tuple[FileExplained, ...]
    applied: tuple[str, ...] = ()
