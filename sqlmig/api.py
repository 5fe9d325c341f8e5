"""The public functions: apply, rollback, status, accept, baseline, and over many targets apply_all and
rollback_all. Each resolves its settings from its keyword arguments and the configuration, builds a
:class:`~sqlmig.migrator.Migrator`, and calls one of its methods."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .migrator import Migrator
from .model import InvalidIndexAction, Report, StatusReport, Track
from .run.connection import Database

if TYPE_CHECKING:
    from .fanout import FanoutReport


def apply(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    track: Track = "migrate",
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    single_transaction: bool = False,
    lock_wait: float | None = None,
    allow_out_of_order: bool | None = None,
    history_table: str | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    role: str | None = None,
    invalid_index: InvalidIndexAction | None = None,
    wait: float | None = None,
    lint: bool | None = None,
    to: str | None = None,
) -> Report:
    """Apply every pending migration of ``track`` (``"migrate"`` or ``"seed"``), oldest first. Writes.

    ``database`` is a URL, an open psycopg connection (left open; must not be inside a transaction), or None to
    resolve it from ``SQLMIG_DATABASE_URL``, ``DIRECT_URL``, ``DATABASE_URL`` or ``.env``. ``directory`` holds
    ``migrate/`` and ``seed/`` (default: ``[tool.sqlmig] directory`` or ``migrations``). Seeds run only when
    the migrations are up to date. Returns the migrations applied; an up-to-date database gives an empty report.
    Rows a newer release applied (no file here, newer than every file) are left alone, with a warning (``ahead``).

    Each migration runs with ``lock_timeout`` and ``statement_timeout`` (PostgreSQL durations; defaults ``5s``
    and ``1h``, overridable per file with ``-- sqlmig: lock-timeout=…``) and, with ``role``, as that role
    (``SET ROLE``), so that what it creates is owned by that role. One that hits ``lock_timeout`` is rolled back
    and tried again ``lock_retries`` times (default 3). A ``no-transaction`` file that stopped part-way continues
    at the statement it stopped at; an INVALID index left by its failed ``CREATE INDEX CONCURRENTLY`` is dropped
    first (``invalid_index="drop"``) or reported (``"refuse"``). ``wait`` is how many seconds to keep trying to
    reach a server that is not up yet (default 0). With ``lint`` (default: ``lint`` in ``[tool.sqlmig]``), the
    pending files are linted first and any error-level finding stops the run before the lock is taken. With
    ``to`` (a version, ``YYYYMMDD_HHMMSS``), only the pending migrations up to that version are applied.

    Raises :class:`~sqlmig.DiscoveryError`, :class:`~sqlmig.RenderError` or :class:`~sqlmig.PlanError` before
    anything runs, :class:`~sqlmig.LockTimeout` if another run holds the lock too long, and
    :class:`~sqlmig.MigrationError` when SQL fails (that migration is rolled back; earlier ones stay applied,
    or with ``single_transaction`` everything of this run is rolled back).
    """
    return Migrator.from_config(
        database,
        directory,
        caller=_caller_folder(directory),
        schema=schema,
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
        allow_out_of_order=allow_out_of_order,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=lock_retries,
        role=role,
        invalid_index=invalid_index,
        wait=wait,
        lint=lint,
    ).up(track, single_transaction=single_transaction, to=to)


def rollback(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    track: Track = "migrate",
    steps: int | None = 1,
    to: str | None = None,
    all: bool = False,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    lock_wait: float | None = None,
    history_table: str | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    role: str | None = None,
    wait: float | None = None,
) -> Report:
    """Roll back applied migrations of ``track``, newest first: the last ``steps`` (default 1), every one newer
    than version ``to``, or ``all``. Writes. Each down file and the removal of its history row commit together.

    Raises :class:`~sqlmig.MissingDownError` before anything runs when a selected migration has no
    ``.down.sql``, and the errors of :func:`apply` otherwise. Timeouts, retries, ``role`` and ``wait`` work as
    in :func:`apply`.
    """
    return Migrator.from_config(
        database,
        directory,
        caller=_caller_folder(directory),
        schema=schema,
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=lock_retries,
        role=role,
        wait=wait,
    ).down(track, steps=steps, to=to, all=all)


def status(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    tracks: Sequence[Track] = ("migrate", "seed"),
    history_table: str | None = None,
    wait: float | None = None,
) -> StatusReport:
    """The state of every migration of ``tracks``: applied, pending, partial, drifted or missing. Read-only; no
    lock. ``wait`` works as in :func:`apply`."""
    return Migrator.from_config(
        database, directory, caller=_caller_folder(directory), history_table=history_table, wait=wait
    ).status(tracks)


def accept(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    track: Track = "migrate",
    names: Sequence[str] = (),
    history_table: str | None = None,
    lock_wait: float | None = None,
    wait: float | None = None,
) -> list[str]:
    """Record the current checksums of applied files that were edited (``names``, or all of ``track``'s), so
    that they no longer count as drift; also fills in checksums missing from rows written by another runner.
    Writes, under the migration lock. Returns the names whose stored checksum changed."""
    migrator = Migrator.from_config(
        database,
        directory,
        caller=_caller_folder(directory),
        history_table=history_table,
        lock_wait=lock_wait,
        wait=wait,
    )
    return migrator.accept(track, names)


def baseline(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    track: Track = "migrate",
    to: str,
    history_table: str | None = None,
    lock_wait: float | None = None,
    wait: float | None = None,
) -> list[str]:
    """Record every unrecorded migration of ``track`` up to version ``to`` as applied, without running it: for
    a database whose objects exist but whose history was lost (or that was built before sqlmig), as Flyway's
    ``baseline``. Writes the history table only, under the migration lock. Returns the names recorded.
    Raises :class:`~sqlmig.PlanError` when no file has version ``to``."""
    migrator = Migrator.from_config(
        database,
        directory,
        caller=_caller_folder(directory),
        history_table=history_table,
        lock_wait=lock_wait,
        wait=wait,
    )
    return migrator.baseline(track, to=to)


def apply_all(
    database: str | None = None,
    directory: str | Path | None = None,
    *,
    schemas: str | Sequence[str] | None = None,
    schemas_from: str | None = None,
    databases_from: str | None = None,
    shard: str | None = None,
    track: Track = "migrate",
    jobs: int = 4,
    max_failures: int | None = None,
    canary: int = 0,
    to: str | None = None,
    vars: Mapping[str, Any] | None = None,
    history_table: str | None = None,
    lock_wait: float | None = None,
    allow_out_of_order: bool | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    role: str | None = None,
    invalid_index: InvalidIndexAction | None = None,
    wait: float | None = None,
) -> FanoutReport:
    """Bring many targets up to date at once: each tenant schema renders the templates with its own ``schema`` (and
    its own variables) and has its own history and lock. Writes.

    The targets are ``schemas`` (a list, or names separated by commas), else the schemas the ``schemas_from``
    query returns (run read-only; its other columns become per-target template variables), else
    ``[tool.sqlmig.targets]``; or, with ``databases_from`` (a file of URLs or database names, a line each, or a
    query returning them), whole databases, each with its own history table. With ``shard`` (``"I/N"``), only the
    I-th of N disjoint parts of them. ``jobs`` targets run at a time, on one connection each: ``database`` must
    be a URL (or None, resolved as :func:`apply` resolves it). A failed target does not stop the others, unless
    ``max_failures`` failed or one of the first ``canary`` targets failed; read each target's outcome in the
    returned :class:`~sqlmig.fanout.FanoutReport`. The other options are :func:`apply`'s. Raises
    :class:`~sqlmig.ConfigError` for no or bad targets, and what stops every target
    (:class:`~sqlmig.ConnectError`, :class:`~sqlmig.DiscoveryError`)."""
    from .errors import ConfigError
    from .fanout.report import Policy, Selection
    from .fanout.runner import up_selected

    if database is not None and not isinstance(database, str):
        raise ConfigError("apply_all() needs a URL, not a connection: each worker opens a connection of its own")
    settings = Migrator.from_config(
        database,
        directory,
        caller=_caller_folder(directory),
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
        allow_out_of_order=allow_out_of_order,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=lock_retries,
        role=role,
        invalid_index=invalid_index,
        wait=wait,
    ).settings
    chosen = Selection(schemas, schemas_from, databases_from, shard)
    return up_selected(settings, chosen, Policy(jobs, max_failures, canary), track=track, to=to)


def rollback_all(
    database: str | None = None,
    directory: str | Path | None = None,
    *,
    schemas: str | Sequence[str] | None = None,
    schemas_from: str | None = None,
    databases_from: str | None = None,
    shard: str | None = None,
    track: Track = "migrate",
    steps: int | None = 1,
    to: str | None = None,
    all: bool = False,
    jobs: int = 4,
    max_failures: int | None = None,
    **options: Any,
) -> FanoutReport:
    """Roll back, in each target named as in :func:`apply_all`, what :func:`rollback` would roll back there (the
    last ``steps``, every migration newer than version ``to``, or ``all``), each under its own lock, ``jobs`` at a
    time, none started after ``max_failures`` failed. Writes. ``[tool.sqlmig.targets]`` is never used: name the
    targets. A target rolled back is ``applied`` and names what was rolled back; one with nothing to roll back is
    ``current``. ``options`` are :func:`rollback`'s settings, as :meth:`Migrator.from_config` takes them (``vars``,
    ``history_table``, ``lock_wait``, the timeouts, ``lock_retries``, ``role``, ``wait``). Raises
    :class:`~sqlmig.ConfigError` for no or bad targets, ``TypeError`` for an unknown option, and what stops every
    target (:class:`~sqlmig.ConnectError`, :class:`~sqlmig.DiscoveryError`)."""
    from .errors import ConfigError
    from .fanout.manage import chosen_runs, down_each
    from .fanout.report import Selection

    if database is not None and not isinstance(database, str):
        raise ConfigError("rollback_all() needs a URL, not a connection: each worker opens a connection of its own")
    settings = Migrator.from_config(database, directory, caller=_caller_folder(directory), **options).settings
    runs = chosen_runs(settings, Selection(schemas, schemas_from, databases_from, shard))
    return down_each(runs, track=track, steps=steps, to=to, all=all, jobs=jobs, max_failures=max_failures)


def _caller_folder(directory: str | Path | None) -> Path | None:
    """The folder of the module that called the public function, where the configuration looks for the project
    when the working directory is in none (so that a service started in ``/`` still finds its migrations). None
    when the caller gave a ``directory``, when sqlmig itself called, or when the caller has no file. No I/O."""
    frame = sys._getframe(2)
    module, file = frame.f_globals.get("__name__", ""), frame.f_globals.get("__file__")
    if directory is not None or not file or module == "sqlmig" or module.startswith("sqlmig."):
        return None
    return Path(file).resolve().parent
