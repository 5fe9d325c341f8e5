"""apply / rollback / status / accept: connect -> files -> render -> plan -> lock -> execute -> Report.

The common case, nothing pending, is one history query and no lock. With work pending, the lock is taken, the
history read again, and every file still pending is rendered and split before any SQL runs, so a template or
file error changes nothing; runs that waited for the lock and find the work done never load the parser or Jinja2.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import config, history
from .connection import Database, connect, url_of
from .errors import ConfigError, LintError, PlanError
from .files import discover_tracks
from .history import TableName
from .model import TRACKS, Applied, Plan, Report, StatusReport, Track
from .plan import DownTarget, ahead_text, make_down_plan, make_status, up_plan

log = logging.getLogger("sqlmig")


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
    invalid_index: str | None = None,
    wait: float | None = None,
    lint: bool | None = None,
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
    pending files are linted first and any error-level finding stops the run before the lock is taken.

    Raises :class:`~sqlmig.DiscoveryError`, :class:`~sqlmig.RenderError` or :class:`~sqlmig.PlanError` before
    anything runs, :class:`~sqlmig.LockTimeout` if another run holds the lock too long, and
    :class:`~sqlmig.MigrationError` when SQL fails (that migration is rolled back; earlier ones stay applied,
    or with ``single_transaction`` everything of this run is rolled back).
    """
    settings = _settings(
        database,
        directory=directory,
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
    )
    tracks: tuple[Track, ...] = ("migrate",) if _checked(track) == "migrate" else ("migrate", "seed")
    files = discover_tracks(settings.directory, tracks)
    table = TableName.parse(settings.history_table)
    ahead: dict[str, None] = {}  # rows a newer release applied, each warned about once however often planned

    def planned(rows: Sequence[Applied]) -> Plan:
        found = up_plan(files, rows, track, settings.allow_out_of_order)
        if fresh := [r for r in found.ahead if r.name not in ahead]:
            log.warning(ahead_text(fresh))
            ahead.update(dict.fromkeys(r.name for r in fresh))
        return found

    with connect(database, settings) as conn:
        plan = planned(history.read(conn, table).rows)
        if not plan.steps:
            return Report(track, "up", (), tuple(ahead))
        if settings.lint:
            _lint(plan, settings)
        from . import lock, pooler  # loaded only when the lock is needed: the no-op path skips them

        pooler.check(conn, url_of(database, settings))

        def pending() -> bool:
            return bool(planned(history.read(conn, table).rows).steps)

        with lock.hold(conn, table, settings.lock_wait, recheck=pending) as held:
            if not held:  # another run applied them while this one waited for the lock
                return Report(track, "up", (), tuple(ahead))
            hist = history.read(conn, table)
            plan = planned(hist.rows)
            if not plan.steps:
                return Report(track, "up", (), tuple(ahead))
            from . import runner  # the parser and Jinja2 load only when there is work: the no-op path stays lean

            prepared = runner.prepare(plan, settings)
            if single_transaction:
                runner.check_single_transaction(prepared)
            history.ensure(conn, table, hist.state)
            empty = not any(r.track == track for r in hist.rows)
            report = runner.run_plan(conn, plan, prepared, settings, single_transaction, empty_history=empty)
            return replace(report, ahead=tuple(ahead))


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
    settings = _settings(
        database,
        directory=directory,
        schema=schema,
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=lock_retries,
        role=role,
        wait=wait,
    )
    files = discover_tracks(settings.directory, (_checked(track),))[track]
    table = TableName.parse(settings.history_table)
    target = DownTarget(steps=steps, to=to, all=all)
    with connect(database, settings) as conn:
        plan = make_down_plan(files, history.read(conn, table).rows, track=track, target=target)
        if not plan.steps:
            return Report(track, "down", ())
        from . import lock, pooler  # loaded only when the lock is needed: the no-op path skips them

        pooler.check(conn, url_of(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            plan = make_down_plan(files, history.read(conn, table).rows, track=track, target=target)
            if not plan.steps:
                return Report(track, "down", ())
            from . import runner  # the parser and Jinja2 load only when there is work

            prepared = runner.prepare(plan, settings)
            return runner.run_plan(conn, plan, prepared, settings, single_transaction=False)


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
    settings = _settings(
        database,
        directory=directory,
        history_table=history_table,
        wait=wait,
    )
    files = discover_tracks(settings.directory, tuple(_checked(t) for t in tracks))
    with connect(database, settings) as conn:
        rows = history.read(conn, TableName.parse(settings.history_table)).rows
    return StatusReport(tuple(e for t in tracks for e in make_status(files[t], rows, track=t)))


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
    settings = _settings(
        database,
        directory=directory,
        history_table=history_table,
        lock_wait=lock_wait,
        wait=wait,
    )
    files = discover_tracks(settings.directory, (_checked(track),))[track]
    unknown = sorted(set(names) - {f.name for f in files})
    if unknown:
        raise PlanError(f"no {track} migration file named {', '.join(unknown)}", unknown)
    table = TableName.parse(settings.history_table)
    with connect(database, settings) as conn:
        from . import lock, pooler  # loaded only when the lock is needed: the no-op path skips them

        pooler.check(conn, url_of(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            applied = {r.name: r for r in history.read(conn, table).rows if r.track == track}
            chosen = [f for f in files if f.name in applied and (not names or f.name in names)]
            changed = [f for f in chosen if applied[f.name].checksum != f.up.checksum]
            history.accept(conn, table, changed)
    return [f.name for f in changed]


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
    settings = _settings(database, directory=directory, history_table=history_table, lock_wait=lock_wait, wait=wait)
    files = discover_tracks(settings.directory, (_checked(track),))[track]
    if to not in {f.version for f in files}:
        raise PlanError(f"--to {to}: no {track} migration file has that version")
    table = TableName.parse(settings.history_table)
    with connect(database, settings) as conn:
        from . import lock, pooler  # loaded only when the lock is needed: the no-op path skips them

        pooler.check(conn, url_of(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            hist = history.read(conn, table)
            history.ensure(conn, table, hist.state)
            recorded = {r.name for r in hist.rows if r.track == track}
            chosen = [f for f in files if f.version <= to and f.name not in recorded]
            history.record_baseline(conn, table, chosen)
    return [f.name for f in chosen]


def _settings(database: Database, **overrides: Any) -> config.Settings:
    return config.load(database_url=database if isinstance(database, str) else None, **overrides)


def _checked(track: str) -> Track:
    if track not in TRACKS:
        raise ConfigError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
    return track


def _lint(plan: Plan, settings: config.Settings) -> None:
    from .lint import lint_files
    from .render import STREAM_THRESHOLD, TemplateContext

    # Linting parses every statement (about 1 s per MB of INSERTs): files large enough to be streamed, bulk data
    # seeds in practice, are left to 'sqlmig lint' rather than holding up every start-up.
    files = [step.file for step in plan.steps]
    large = [f.name for f in files if f.up.size > STREAM_THRESHOLD]
    if large:
        log.warning("not linted before applying (larger than 4 MiB; run 'sqlmig lint'): %s", ", ".join(large))
    context = TemplateContext(schema=settings.schema, vars=settings.vars, env=settings.env)
    report = lint_files([f for f in files if f.name not in large], context)
    if report.errors:
        raise LintError(report.errors)
