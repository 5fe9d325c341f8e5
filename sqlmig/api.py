"""apply / rollback / status / accept: connect -> files -> render -> plan -> lock -> execute -> Report.

The common case, nothing pending, is one history query and no lock. With work pending, every file is rendered
and split before the lock is taken, so a template or file error changes nothing.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from . import config, contention, history, lock, pooler
from .contention import Limits
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
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    role: str | None = None,
    invalid_index: str | None = None,
    wait: float | None = None,
) -> Report:
    """Apply every pending migration of ``track`` (``"migrate"`` or ``"seed"``), oldest first. Writes.

    ``database`` is a URL, an open psycopg connection (left open; must not be inside a transaction), or None to
    resolve it from ``SQLMIG_DATABASE_URL``, ``DIRECT_URL``, ``DATABASE_URL`` or ``.env``. ``directory`` holds
    ``migrate/`` and ``seed/`` (default: ``[tool.sqlmig] directory`` or ``migrations``). Seeds run only when
    the migrations are up to date. Returns the migrations applied; an up-to-date database gives an empty report.

    Each migration runs with ``lock_timeout`` and ``statement_timeout`` (PostgreSQL durations; defaults ``5s``
    and ``1h``, overridable per file with ``-- sqlmig: lock-timeout=…``) and, with ``role``, as that role
    (``SET ROLE``), so that what it creates is owned by that role. One that hits ``lock_timeout`` is rolled back
    and tried again ``lock_retries`` times (default 3). A ``no-transaction`` file that stopped part-way continues
    at the statement it stopped at; an INVALID index left by its failed ``CREATE INDEX CONCURRENTLY`` is dropped
    first (``invalid_index="drop"``) or reported (``"refuse"``). ``wait`` is how many seconds to keep trying to
    reach a server that is not up yet (default 0).

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
    conn = _connect_waiting(url, settings)
    with conn:
        if settings.role:
            _check_role(conn, settings.role)
        yield conn


# Connection failures worth waiting out: no answer at all (no SQLSTATE), or a server still starting up.
_STARTING_UP = {None, "57P03"}


def _connect_waiting(url: str, settings: config.Settings) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + settings.wait
    delay = 0.1
    while True:
        try:
            # No server-side prepared statements: they break behind transaction-mode poolers, and sqlmig repeats
            # few queries often enough to gain from them.
            return psycopg.connect(url, autocommit=True, application_name="sqlmig", prepare_threshold=None)
        except psycopg.Error as exc:
            left = deadline - time.monotonic()
            if exc.sqlstate in _STARTING_UP and left > 0:
                log.info(
                    "waiting for the server (%.0fs left): %s", left, config.redact(str(exc).strip().splitlines()[0])
                )
                time.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)
                continue
            where = f"{config.redact(url)} (from {settings.url_source})"
            waited = f" (waited {settings.wait:g}s)" if settings.wait else ""
            todo = " Start the server, or wait for it with --wait SECONDS." if exc.sqlstate in _STARTING_UP else ""
            raise ConnectError(f"cannot connect to {where}{waited}: {config.redact(str(exc).strip())}.{todo}") from None


def _check_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Fail early, before any lock, when the session cannot ``SET ROLE`` to ``role``."""
    row = conn.execute("SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s", (role,))
    found = row.fetchone()
    if found is None:
        raise ConfigError(f"--role {role}: no such role in this database; create it or pass another")
    if not found[0]:
        raise ConfigError(
            f"--role {role}: the connecting user is not a member of it, so it cannot SET ROLE; "
            f"GRANT {role} TO <user> first"
        )


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
    from . import failure

    # The plan made under the lock can hold a step the first plan did not (another run finished in between).
    unprepared = tuple(s for s in plan.steps if s.file.name not in prepared)
    prepared.update(_prepare(Plan(plan.track, plan.direction, unprepared), settings))
    limits = Limits(settings.lock_timeout, settings.statement_timeout, settings.lock_retries, settings.role)
    if not single_transaction:
        return Report(plan.track, plan.direction, _run_steps(conn, plan, prepared, settings, limits, True))
    # One transaction for the whole run: a lock timeout anywhere rolls all of it back and the run starts over.
    for attempt in itertools.count():
        try:
            conn.execute("BEGIN")
            results = _run_steps(conn, plan, prepared, settings, limits, False)
            conn.execute("COMMIT")
            return Report(plan.track, plan.direction, results)
        except MigrationError as exc:
            if not conn.broken:
                conn.rollback()
            if exc.sqlstate != contention.LOCK_NOT_AVAILABLE or attempt >= limits.lock_retries:
                raise failure.explain(conn, exc, limits, attempt) from exc.__cause__
            pause = limits.backoff(attempt)
            log.warning("lock_timeout reached in %s; the run was rolled back, trying again in %.1fs", exc.name, pause)
            time.sleep(pause)
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
    raise AssertionError("unreachable")


def _run_steps(
    conn: psycopg.Connection[Any],
    plan: Plan,
    prepared: Prepared,
    settings: config.Settings,
    limits: Limits,
    own_transaction: bool,
) -> tuple[Result, ...]:
    from . import execute

    table = TableName.parse(settings.history_table)
    results: list[Result] = []
    verb = "applied" if plan.direction == "up" else "rolled back"
    for step in plan.steps:
        migration, items = prepared[step.file.name]
        result = execute.run_step(
            conn,
            migration,
            items,
            table,
            limits=limits,
            own_transaction=own_transaction,
            applied=tuple(r.name for r in results) if own_transaction else (),
            resume=step.resume,
            invalid_index=settings.invalid_index,
        )
        results.append(result)
        log.info("%s %s (%.0f ms)", verb, step.file.name, result.duration_ms)
    return tuple(results)
