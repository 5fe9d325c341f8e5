"""apply / rollback / status / accept: connect -> files -> render -> plan -> lock -> execute -> Report.

The common case, nothing pending, is one history query and no lock. With work pending, every file is rendered
and split before the lock is taken, so a template or file error changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from . import config, history, lock, pooler
from .errors import ConfigError, ConnectError, MigrationError, PendingMigrationsError, PlanError
from .files import discover_tracks
from .history import History, TableName
from .model import TRACKS, Migration, MigrationFile, Plan, Report, Result, StatusReport, Track
from .plan import DownTarget, make_down_plan, make_plan, make_status
from .render import TemplateContext, render

if TYPE_CHECKING:
    from .execute import Item

    Prepared = dict[str, tuple[Migration, list[Item] | None]]

log = logging.getLogger("sqlmig")
Database = str | psycopg.Connection[Any] | None


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
) -> Report:
    """Apply every pending migration of ``track`` (``"migrate"`` or ``"seed"``), oldest first. Writes.

    ``database`` is a URL, an open psycopg connection (left open; must not be inside a transaction), or None to
    resolve it from ``SQLMIG_DATABASE_URL``, ``DIRECT_URL``, ``DATABASE_URL`` or ``.env``. ``directory`` holds
    ``migrate/`` and ``seed/`` (default: ``[tool.sqlmig] directory`` or ``migrations``). Seeds run only when
    the migrations are up to date. Returns the migrations applied; an up-to-date database gives an empty report.

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
    )
    tracks: tuple[Track, ...] = ("migrate",) if _checked(track) == "migrate" else ("migrate", "seed")
    files = discover_tracks(settings.directory, tracks)
    table = TableName.parse(settings.history_table)
    with connect(database, settings) as conn:
        plan = _up_plan(files, history.read(conn, table), track, settings)
        if not plan.steps:
            return Report(track, "up", ())
        prepared = _prepare(plan, settings)
        if single_transaction:
            _check_single_transaction(prepared)
        pooler.check(conn, _url(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            hist = history.read(conn, table)
            history.ensure(conn, table, hist.state)
            plan = _up_plan(files, hist, track, settings)
            return _execute(conn, plan, prepared, settings, single_transaction)


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
) -> Report:
    """Roll back applied migrations of ``track``, newest first: the last ``steps`` (default 1), every one newer
    than version ``to``, or ``all``. Writes. Each down file and the removal of its history row commit together.

    Raises :class:`~sqlmig.MissingDownError` before anything runs when a selected migration has no
    ``.down.sql``, and the errors of :func:`apply` otherwise.
    """
    settings = _settings(
        database,
        directory=directory,
        schema=schema,
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
    )
    files = discover_tracks(settings.directory, (_checked(track),))[track]
    table = TableName.parse(settings.history_table)
    target = DownTarget(steps=steps, to=to, all=all)
    with connect(database, settings) as conn:
        plan = make_down_plan(files, history.read(conn, table).rows, track=track, target=target)
        if not plan.steps:
            return Report(track, "down", ())
        prepared = _prepare(plan, settings)
        pooler.check(conn, _url(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            plan = make_down_plan(files, history.read(conn, table).rows, track=track, target=target)
            return _execute(conn, plan, prepared, settings, single_transaction=False)


def status(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    tracks: Sequence[Track] = ("migrate", "seed"),
    history_table: str | None = None,
) -> StatusReport:
    """The state of every migration of ``tracks``: applied, pending, drifted or missing. Read-only; no lock."""
    settings = _settings(
        database,
        directory=directory,
        history_table=history_table,
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
) -> list[str]:
    """Record the current checksums of applied files that were edited (``names``, or all of ``track``'s), so
    that they no longer count as drift; also fills in checksums missing from rows written by another runner.
    Writes, under the migration lock. Returns the names whose stored checksum changed."""
    settings = _settings(
        database,
        directory=directory,
        history_table=history_table,
        lock_wait=lock_wait,
    )
    files = discover_tracks(settings.directory, (_checked(track),))[track]
    unknown = sorted(set(names) - {f.name for f in files})
    if unknown:
        raise PlanError(f"no {track} migration file named {', '.join(unknown)}", unknown)
    table = TableName.parse(settings.history_table)
    with connect(database, settings) as conn:
        pooler.check(conn, _url(database, settings))
        with lock.hold(conn, table, settings.lock_wait):
            applied = {r.name: r for r in history.read(conn, table).rows if r.track == track}
            chosen = [f for f in files if f.name in applied and (not names or f.name in names)]
            changed = [f for f in chosen if applied[f.name].checksum != f.up.checksum]
            history.accept(conn, table, changed)
    return [f.name for f in changed]


@contextmanager
def connect(database: Database, settings: config.Settings) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for a run: the caller's (restored afterwards) or a new one (closed afterwards).
    Raises :class:`ConfigError` when no URL is configured and :class:`ConnectError` when the server refuses."""
    if isinstance(database, psycopg.Connection):
        if database.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ConfigError("the connection passed to sqlmig is inside a transaction; commit or roll back first")
        previous = database.autocommit, database.prepare_threshold
        database.autocommit, database.prepare_threshold = True, None
        try:
            yield database
        finally:
            if not database.closed and not database.broken:
                database.autocommit, database.prepare_threshold = previous
        return
    url = settings.database_url
    if not url:
        raise ConfigError(
            "no database URL: pass one, or set SQLMIG_DATABASE_URL, DIRECT_URL or DATABASE_URL "
            "(in the environment or in .env)"
        )
    try:
        # No server-side prepared statements: they break behind transaction-mode poolers, and sqlmig repeats few
        # queries often enough to gain from them.
        conn = psycopg.connect(url, autocommit=True, application_name="sqlmig", prepare_threshold=None)
    except psycopg.Error as exc:
        where = f"{config.redact(url)} (from {settings.url_source})"
        raise ConnectError(f"cannot connect to {where}: {config.redact(str(exc).strip())}") from None
    with conn:
        yield conn


def _url(database: Database, settings: config.Settings) -> str | None:
    return None if isinstance(database, psycopg.Connection) else settings.database_url


def _settings(database: Database, **overrides: Any) -> config.Settings:
    return config.load(database_url=database if isinstance(database, str) else None, **overrides)


def _checked(track: str) -> Track:
    if track not in TRACKS:
        raise ConfigError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
    return track


def _up_plan(
    files: Mapping[Track, list[MigrationFile]], hist: History, track: Track, settings: config.Settings
) -> Plan:
    if track == "seed":
        behind = make_plan(files["migrate"], hist.rows, track="migrate", allow_out_of_order=True)
        if behind.steps:
            names = [s.file.name for s in behind.steps]
            raise PendingMigrationsError(
                f"{len(names)} migration(s) are pending; seeds run only on an up-to-date schema. "
                "Run 'sqlmig migrate up' first.",
                names,
            )
    return make_plan(files[track], hist.rows, track=track, allow_out_of_order=settings.allow_out_of_order)


def _prepare(plan: Plan, settings: config.Settings) -> Prepared:
    from . import execute  # pglast is imported only when there is work: the no-op path stays lean

    context = TemplateContext(schema=settings.schema, vars=settings.vars, env=settings.env)
    prepared = {}
    for step in plan.steps:
        migration = render(step.file, step.direction, context)
        prepared[step.file.name] = (migration, execute.statements_of(migration))
    return prepared


def _check_single_transaction(prepared: Mapping[str, tuple[Migration, Any]]) -> None:
    loose = [name for name, (m, _) in prepared.items() if not m.source.transactional]
    if loose:
        raise PlanError(
            f"--single-transaction cannot include no-transaction migrations: {', '.join(loose)}. "
            "Apply them in a separate run.",
            loose,
        )


def _execute(
    conn: psycopg.Connection[Any],
    plan: Plan,
    prepared: Prepared,
    settings: config.Settings,
    single_transaction: bool,
) -> Report:
    from . import execute

    # The plan made under the lock can hold a step the first plan did not (another run finished in between).
    unprepared = tuple(s for s in plan.steps if s.file.name not in prepared)
    prepared.update(_prepare(Plan(plan.track, plan.direction, unprepared), settings))
    table = TableName.parse(settings.history_table)
    results: list[Result] = []
    verb = "applied" if plan.direction == "up" else "rolled back"
    if single_transaction:
        conn.execute("BEGIN")
    try:
        for step in plan.steps:
            migration, items = prepared[step.file.name]
            done = () if single_transaction else tuple(r.name for r in results)
            result = execute.run_step(
                conn, migration, items, table, own_transaction=not single_transaction, applied=done
            )
            results.append(result)
            log.info("%s %s (%.0f ms)", verb, step.file.name, result.duration_ms)
        if single_transaction:
            conn.execute("COMMIT")
    except MigrationError:
        if single_transaction and not conn.broken:
            conn.rollback()
        raise
    except psycopg.Error as exc:  # COMMIT of --single-transaction (e.g. a deferred constraint)
        last = prepared[plan.steps[-1].file.name][0]
        raise MigrationError(
            path=last.source.path,
            name=last.file.name,
            line=0,
            column=0,
            statement="COMMIT",
            sqlstate=exc.diag.sqlstate,
            message=exc.diag.message_primary or str(exc),
            detail=exc.diag.message_detail,
            hint=exc.diag.message_hint,
        ) from exc
    return Report(plan.track, plan.direction, tuple(results))
