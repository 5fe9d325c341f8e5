"""Running a plan: render and split every file first, then each step in order, or all of them in one
transaction that starts over after a lock timeout. Imported only when there is work, so the no-op path does not
load the parser or the template engine."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import psycopg

from .. import config
from ..errors import BookkeepingError, MigrationError, PlanError, SqlmigError
from ..model import Migration, Plan, Report, Result, Step
from ..reader import read_checked
from ..render import TemplateContext, render
from ..sqltext import Runnable
from . import bookkeeping, connection, contention, execute, failure
from .contention import Limits

log = logging.getLogger("sqlmig")
Prepared = dict[str, tuple[Migration, list[Runnable] | None]]


class PrepareCache:
    """What every run that shares it (the targets of a fan-out, on many threads) prepares once: a file without
    template syntax rendered and split, a template's text read and checked. Keyed by name, direction and checksum,
    so an edited file is never taken for its old self."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.plain: dict[tuple[str, str, str], tuple[Migration, list[Runnable] | None]] = {}
        self.texts: dict[tuple[str, str, str], str] = {}

    def get(self, step: Step, context: TemplateContext) -> tuple[Migration, list[Runnable] | None]:
        """``step`` prepared for ``context``: from the cache, or prepared once under its lock (a template is
        rendered for each context, outside it)."""
        source = step.file.up if step.direction == "up" else step.file.down
        if source is None:
            return _prepared(step, context, None)
        key = (step.file.name, step.direction, source.checksum)
        with self.lock:
            if not source.templated:
                if key not in self.plain:
                    self.plain[key] = _prepared(step, context, None)
                return self.plain[key]
            if key not in self.texts:
                self.texts[key] = read_checked(source)
            text = self.texts[key]
        return _prepared(step, context, text)


def prepare(plan: Plan, settings: config.Settings, cache: PrepareCache | None = None) -> Prepared:
    """Render and split every step of ``plan`` before any SQL runs. With a ``cache`` shared by many runs, a file
    without template syntax is rendered and split once, and a template is read once and rendered for each run's
    context. Reads the files; raises :class:`~sqlmig.RenderError` and :class:`~sqlmig.DiscoveryError`."""
    context = TemplateContext(schema=settings.schema, vars=settings.vars, env=settings.env)
    if cache is None:
        return {step.file.name: _prepared(step, context, None) for step in plan.steps}
    return {step.file.name: cache.get(step, context) for step in plan.steps}


def _prepared(step: Step, context: TemplateContext, template: str | None) -> tuple[Migration, list[Runnable] | None]:
    migration = render(step.file, step.direction, context, template)
    return migration, execute.statements_of(migration)


def check_single_transaction(prepared: Mapping[str, tuple[Migration, Any]]) -> None:
    loose = [name for name, (m, _) in prepared.items() if not m.source.transactional]
    if loose:
        raise PlanError(
            f"--single-transaction cannot include no-transaction migrations: {', '.join(loose)}. "
            "Apply them in a separate run.",
            loose,
        )


# Errors of a first migration that finds its objects already there: with an empty history, the likely cause is a
# history table that was emptied, dropped or renamed, not a bad migration. Only the first of the run: a later one
# may find what an earlier migration of the same run created.
_ALREADY_EXISTS = {"42P07", "42710", "42P06", "42723", "42701", "42P04"}
_VERBS = {"up": "applied", "down": "rolled back"}


def run_plan(
    conn: psycopg.Connection[Any],
    plan: Plan,
    prepared: Prepared,
    settings: config.Settings,
    single_transaction: bool,
    *,
    empty_history: bool = False,
    selected_by: str = "",
) -> Report:
    """Run the steps of ``plan`` (rendered in ``prepared``; any missing are rendered now) under the caller's
    lock, and return what ran. Writes. Raises :class:`MigrationError`; when the track had no history rows and
    the first migration finds its objects already there, the error says how to record them (``baseline``, with
    the options ``selected_by`` that select a fan-out target's history: see :func:`~sqlmig.plan.history_options`)."""
    try:
        return _run_plan(conn, plan, prepared, settings, single_transaction)
    except MigrationError as exc:
        first = plan.steps[0].file.name if plan.steps else None
        if not empty_history or exc.sqlstate not in _ALREADY_EXISTS or exc.name != first:
            raise
        hint = (
            f"the history table has no {plan.track} rows, yet this object exists: if the history was emptied, "
            "dropped or renamed, restore it from a backup, or record the migrations that are already in the "
            f"database with 'sqlmig {plan.track} baseline --to VERSION{selected_by}'"
        )
        raise failure.amend(exc, hint=hint) from exc.__cause__


def _run_plan(
    conn: psycopg.Connection[Any],
    plan: Plan,
    prepared: Prepared,
    settings: config.Settings,
    single_transaction: bool,
) -> Report:

    # The plan made under the lock can hold a step the first plan did not (another run finished in between).
    unprepared = tuple(s for s in plan.steps if s.file.name not in prepared)
    prepared.update(prepare(Plan(plan.track, plan.direction, unprepared), settings))
    limits = Limits(
        settings.lock_timeout,
        settings.statement_timeout,
        settings.lock_retries,
        settings.role,
        check_connection=conn.info.server_version >= 140000,
        own_connection=connection.owned(conn),
        restore="" if connection.owned(conn) else connection.session_restore(conn),
    )
    if not single_transaction:
        return Report(plan.track, plan.direction, _run_steps(conn, plan, prepared, settings, limits, True))
    return Report(plan.track, plan.direction, _run_whole(conn, plan, prepared, settings, limits))


def _run_whole(
    conn: psycopg.Connection[Any], plan: Plan, prepared: Prepared, settings: config.Settings, limits: Limits
) -> tuple[Result, ...]:
    """Run every step in one transaction (``--single-transaction``): a lock timeout anywhere rolls all of it back
    and the run starts over."""
    for attempt in contention.attempts(limits, "the run (--single-transaction)", "the whole run was rolled back"):
        try:
            conn.execute("BEGIN")
            results = _run_steps(conn, plan, prepared, settings, limits, False)
            conn.execute("COMMIT")
            log.info("committed the run (--single-transaction)")
            return results
        except (MigrationError, BookkeepingError) as exc:
            if not conn.broken:
                conn.rollback()
            if not contention.is_lock_timeout(exc.sqlstate) or attempt.last:
                raise _whole_run(failure.explain(conn, exc, limits, attempt.number), plan) from exc.__cause__
        except psycopg.Error as exc:  # COMMIT of --single-transaction (e.g. a deferred constraint)
            raise _commit_failed(conn, exc, plan, prepared) from exc
    raise AssertionError("attempts() raises after the last try")


def _commit_failed(conn: psycopg.Connection[Any], exc: psycopg.Error, plan: Plan, prepared: Prepared) -> SqlmigError:
    """The error for the run's ``COMMIT`` failing (``--single-transaction``), blamed on its last migration."""
    last = prepared[plan.steps[-1].file.name][0]
    if conn.closed or conn.broken:
        outcome = (
            "The connection was lost during the run's COMMIT (--single-transaction): if it went through, "
            "every migration of the run is applied and recorded; if not, none is. The next up reads the "
            "history and applies only what it does not record."
        )
        return bookkeeping.lost(exc, last, None, line=0, outcome=outcome)
    error = MigrationError(
        path=last.source.path,
        name=last.file.name,
        line=0,
        column=0,
        statement="COMMIT",
        sqlstate=exc.diag.sqlstate,
        message=exc.diag.message_primary or str(exc),
        detail=exc.diag.message_detail,
        hint=exc.diag.message_hint,
    )
    return _whole_run(error, plan)


def _whole_run(exc: SqlmigError, plan: Plan) -> SqlmigError:
    """``exc`` of a ``--single-transaction`` run, saying that every migration of the run was rolled back with it
    (a :class:`BookkeepingError` already says so in its outcome)."""
    if not isinstance(exc, MigrationError):
        return exc
    names = ", ".join(s.file.name for s in plan.steps)
    return failure.amend(
        exc,
        detail=f"--single-transaction: the whole run was rolled back with it, and none of its migrations is "
        f"{_VERBS[plan.direction]}: {names}; the database is as it was before the run",
    )


def _run_steps(
    conn: psycopg.Connection[Any],
    plan: Plan,
    prepared: Prepared,
    settings: config.Settings,
    limits: Limits,
    own_transaction: bool,
) -> tuple[Result, ...]:

    table = settings.history
    results: list[Result] = []
    names: list[str] = []  # read only when a step fails: passing a growing list keeps the run linear
    verb = _VERBS[plan.direction]
    for step in plan.steps:
        migration, items = prepared[step.file.name]
        result = execute.run_step(
            conn,
            migration,
            items,
            table,
            limits=limits,
            own_transaction=own_transaction,
            applied=names if own_transaction else (),
            resume=step.resume,
            invalid_index=settings.invalid_index,
        )
        results.append(result)
        names.append(result.name)
        if own_transaction:
            log.info("%s %s (%.0f ms)", verb, step.file.name, result.duration_ms)
        else:  # in the run's one transaction, nothing is applied before the run commits
            log.info("ran %s (%.0f ms): %s when the run commits", step.file.name, result.duration_ms, verb)
    return tuple(results)
