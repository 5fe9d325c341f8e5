"""Plain data flowing through sqlmig: files on disk, rendered migrations, history rows, plans and reports.

All types are frozen dataclasses with no behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

Track = Literal["migrate", "seed"]
Direction = Literal["up", "down"]
TRACKS: tuple[Track, ...] = ("migrate", "seed")


@dataclass(frozen=True)
class SqlFile:
    """One ``.up.sql`` or ``.down.sql`` file as found on disk.

    ``checksum`` is the SHA-256 (hex) of the raw text with a UTF-8 BOM stripped and CRLF normalised to LF.
    ``templated`` is true when the file contains Jinja2 syntax and has no ``no-template`` directive.
    """

    path: Path
    directives: frozenset[str]
    checksum: str
    templated: bool
    size: int

    @property
    def transactional(self) -> bool:
        """False when the file carries ``-- sqlmig: no-transaction``."""
        return "no-transaction" not in self.directives


@dataclass(frozen=True)
class MigrationFile:
    """An up file and its optional down file, in one track.

    ``version`` is the ``YYYYMMDD_HHMMSS`` prefix; ``name`` is the file name without ``.up.sql``, as recorded in
    the history table.
    """

    track: Track
    version: str
    name: str
    up: SqlFile
    down: SqlFile | None


@dataclass(frozen=True)
class Migration:
    """A file rendered and ready to run in one direction.

    ``sql`` is the text to execute, or None when the file is large and untemplated and is streamed from
    ``source.path`` at run time.
    """

    file: MigrationFile
    direction: Direction
    source: SqlFile
    sql: str | None
    rendered_checksum: str


@dataclass(frozen=True)
class Applied:
    """One row of the history table. ``checksum`` is None for rows written by a runner that did not store one."""

    name: str
    track: str
    version: str | None
    checksum: str | None
    rendered_checksum: str | None
    executed_at: datetime | None


@dataclass(frozen=True)
class Step:
    """One migration to run in one direction."""

    file: MigrationFile
    direction: Direction


@dataclass(frozen=True)
class Plan:
    """What a run will do, in order. An empty plan means there is nothing to do."""

    track: Track
    direction: Direction
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Result:
    """One migration that a run executed."""

    track: Track
    version: str
    name: str
    direction: Direction
    duration_ms: float


@dataclass(frozen=True)
class Report:
    """What a run did. Empty (falsy) when there was nothing to do."""

    track: Track
    direction: Direction
    results: tuple[Result, ...]

    def __bool__(self) -> bool:
        return bool(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the executed migrations, in the order they ran."""
        return tuple(r.name for r in self.results)


StatusState = Literal["applied", "pending", "drifted", "missing"]


@dataclass(frozen=True)
class StatusEntry:
    """The state of one migration: ``applied``, ``pending``, ``drifted`` (edited since it ran) or ``missing``
    (recorded in the history but its file is gone)."""

    track: Track
    version: str
    name: str
    state: StatusState
    executed_at: datetime | None


@dataclass(frozen=True)
class StatusReport:
    """The state of every migration of the requested tracks, in version order per track."""

    entries: tuple[StatusEntry, ...]

    @property
    def pending(self) -> tuple[StatusEntry, ...]:
        """Entries that ``up`` would run."""
        return tuple(e for e in self.entries if e.state == "pending")

    @property
    def problems(self) -> tuple[StatusEntry, ...]:
        """Entries that need attention before ``up`` will run: drifted or missing."""
        return tuple(e for e in self.entries if e.state in ("drifted", "missing"))
