"""Plain data flowing through sqlmig: files on disk, rendered migrations, history rows, plans and reports.

All types are frozen dataclasses with no behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

# A connection, whatever its row factory: the one alias every module uses.
Conn: TypeAlias = "psycopg.Connection[Any]"
# A query and its parameters, as the runner sends it.
Query: TypeAlias = "tuple[sql.Composed | str, tuple[object, ...]]"
Track = Literal["migrate", "seed"]
Direction = Literal["up", "down"]
# What to do with an INVALID index a failed CREATE INDEX CONCURRENTLY left.
InvalidIndexAction = Literal["drop", "refuse"]
TRACKS: tuple[Track, ...] = ("migrate", "seed")
# The table of the fan-out targets' histories is named after the history table: public.migration_history_targets.
TARGETS_SUFFIX = "_targets"
# A migration's name starts with its version, YYYYMMDD_HHMMSS: 15 characters.
VERSION_LENGTH = 15


def version_of(name: str) -> str:
    """The version a migration's name starts with (``20240101_000000`` of ``20240101_000000_create_items``)."""
    return name[:VERSION_LENGTH]


@dataclass(frozen=True)
class TableName:
    """A history: a schema-qualified table name, always used through ``psycopg.sql.Identifier``, and for a fan-out
    target its name (``target``). A target's rows live in one table beside the history table (:meth:`for_target`),
    each with its target, so that every target's history is one query away; its lock is its own."""

    schema: str
    name: str
    target: str | None = None

    @classmethod
    def parse(cls, qualified: str) -> TableName:
        """``schema.table`` or ``table`` (schema ``public``); raises ValueError on anything else (the
        configuration turns that into a :class:`~sqlmig.ConfigError`)."""
        parts = qualified.split(".")
        if len(parts) > 2 or not all(parts):
            raise ValueError(f"history table must be 'schema.table' or 'table', got {qualified!r}")
        return cls("public", parts[0]) if len(parts) == 1 else cls(parts[0], parts[1])

    @property
    def targets_table(self) -> TableName:
        """The table beside this history table that holds the fan-out targets' rows, ``<name>_targets`` (a target's
        history is in it already)."""
        if self.target is not None:
            return TableName(self.schema, self.name)
        return TableName(self.schema, f"{self.name}{TARGETS_SUFFIX}")

    def for_target(self, target: str) -> TableName:
        """The history of fan-out target ``target``: its rows in :attr:`targets_table`."""
        return TableName(self.targets_table.schema, self.targets_table.name, target)

    @property
    def ident(self) -> sql.Identifier:
        """The quoted, qualified identifier."""
        from psycopg import sql  # not at import: `import sqlmig` loads no driver

        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        table = f"{self.schema}.{self.name}"
        return table if self.target is None else f"{table} (target {self.target})"


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
    # For a file read in chunks (1 MiB or more): (device, inode, size, mtime_ns, ctime_ns) as it was when its
    # checksum was computed. A streamed file is held to it while it runs instead of being hashed a second time.
    stamp: tuple[int, ...] | None = None

    @property
    def transactional(self) -> bool:
        """False when the file carries ``-- sqlmig: no-transaction``."""
        return "no-transaction" not in self.directives

    def option(self, name: str) -> str | None:
        """The value of a ``NAME=VALUE`` directive (e.g. ``lock-timeout``), or None when the file has none."""
        prefix = f"{name}="
        return next((d[len(prefix) :] for d in self.directives if d.startswith(prefix)), None)


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
    ``source.path`` at run time. ``template`` is a templated file's text as written (None for other files).
    """

    file: MigrationFile
    direction: Direction
    source: SqlFile
    sql: str | None
    rendered_checksum: str
    # A templated file's text as written, read once with the rendering: positions in ``sql`` map back to it.
    template: str | None = None


@dataclass(frozen=True)
class Applied:
    """One row of the history table. ``checksum`` is None for rows written by a runner that did not store one.

    A ``no-transaction`` migration that stopped part-way is recorded with ``statements_done`` (how many of its
    statements completed), ``resume_line`` (where the next one starts in the file) and ``done_checksum`` (SHA-256
    of the completed statements, so that a resumed run can tell they were not edited); all three are None for a
    migration that completed.
    """

    name: str
    track: str
    version: str | None
    checksum: str | None
    rendered_checksum: str | None
    executed_at: datetime | None
    statements_done: int | None = None
    resume_line: int | None = None
    done_checksum: str | None = None

    @property
    def partial(self) -> bool:
        """True for a ``no-transaction`` migration that stopped part-way: ``up`` resumes it."""
        return self.statements_done is not None


@dataclass(frozen=True)
class Step:
    """One migration to run in one direction. ``resume`` is the history row of a ``no-transaction`` migration
    that stopped part-way: the run continues after its completed statements."""

    file: MigrationFile
    direction: Direction
    resume: Applied | None = None


@dataclass(frozen=True)
class Plan:
    """What a run will do, in order. An empty plan means there is nothing to do.

    ``ahead`` holds the history rows that have no file and are newer than every file of their track: applied by a
    newer release of the application, which this one runs beside during a deploy or rollback.
    """

    track: Track
    direction: Direction
    steps: tuple[Step, ...]
    ahead: tuple[Applied, ...] = ()


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
    """What a run did. Empty (falsy) when there was nothing to do.

    ``ahead`` names the history rows a newer release applied (no file here, newer than every file; for seeds,
    migrate rows too): the run left them alone and logged a warning naming them.
    """

    track: Track
    direction: Direction
    results: tuple[Result, ...]
    ahead: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the executed migrations, in the order they ran."""
        return tuple(r.name for r in self.results)


StatusState = Literal["applied", "pending", "partial", "drifted", "missing", "future"]


@dataclass(frozen=True)
class StatusEntry:
    """The state of one migration: ``applied``, ``pending``, ``partial`` (a ``no-transaction`` migration that
    stopped part-way: ``stopped_at`` is the number of the statement it stopped at and ``stopped_line`` its line),
    ``drifted`` (edited since it ran), ``missing`` (recorded in the history but its file is gone) or ``future``
    (recorded, with no file here, and newer than every file: applied by a newer release of the application)."""

    track: Track
    version: str
    name: str
    state: StatusState
    executed_at: datetime | None
    stopped_at: int | None = None
    stopped_line: int | None = None


@dataclass(frozen=True)
class StatusReport:
    """The state of every migration of the requested tracks, in version order per track."""

    entries: tuple[StatusEntry, ...]

    @property
    def pending(self) -> tuple[StatusEntry, ...]:
        """Entries that ``up`` would run (``partial`` ones resume)."""
        return tuple(e for e in self.entries if e.state in ("pending", "partial"))

    @property
    def problems(self) -> tuple[StatusEntry, ...]:
        """Entries that need attention before ``up`` will run: drifted or missing."""
        return tuple(e for e in self.entries if e.state in ("drifted", "missing"))

    @property
    def future(self) -> tuple[StatusEntry, ...]:
        """Entries applied by a newer release: ``up`` leaves them alone, ``down`` refuses to go beneath them."""
        return tuple(e for e in self.entries if e.state == "future")
