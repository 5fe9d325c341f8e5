"""``sqlmig explain``: apply each pending migration on a scratch database and measure every statement.

The scratch database is the one :mod:`sqlmig.verify` makes (created on the database's server, dropped at the end
whatever happens). It first gets the migrations the database's history records, applied as ``up`` applies them
and not measured, so that the pending ones meet the tables they expect; then each pending migration runs
statement by statement (:mod:`sqlmig.explain.measure`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from .. import config
from ..errors import MigrationError
from ..files import discover_tracks
from ..model import Applied, MigrationFile, Plan, Step, Track
from ..plan import make_plan, up_plan
from ..run import history, runner
from ..run.connection import Database, connect, owned
from ..run.contention import Limits
from ..run.failure import amend
from ..run.lock import lock_key
from ..verify.scratch import scratch_database
from .measure import FileRun, on_scratch
from .report import ExplainReport, FileExplained

log = logging.getLogger("sqlmig")


def explain(
    database: str | None = None,
    directory: Path | str | None = None,
    *,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    seeds: bool = False,
    history_table: str | None = None,
) -> ExplainReport:
    """Measure the pending migrations (with ``seeds``, the pending seeds after them) on a new scratch database:
    for each statement, the locks it took, the relations it rewrote and its time.

    ``database`` is the URL of the database whose history says what is pending (None: resolved as
    :func:`sqlmig.apply` does); its server must let sqlmig create and drop a database. Reads that database's
    history and nothing else of it; writes only the scratch database ``sqlmig_explain_<hex>``, dropped at the end,
    also after an error or an interrupt. Nothing pending is an empty report, and no scratch database is made.
    Raises :class:`~sqlmig.ConfigError` (no URL), :class:`~sqlmig.ConnectError`, the plan's errors as ``up``
    raises them (:class:`~sqlmig.DriftError` …), :class:`~sqlmig.DiscoveryError` or :class:`~sqlmig.RenderError`
    for bad files (before the scratch database exists), :class:`~sqlmig.DatabaseError` when the scratch database
    cannot be created, and :class:`~sqlmig.MigrationError` naming the file and line of a statement that fails
    there."""
    settings = config.load(
        database_url=database, directory=directory, schema=schema, vars=vars, history_table=history_table
    )
    return explain_settings(settings, seeds=seeds)


def explain_settings(settings: config.Settings, *, seeds: bool = False, database: Database = None) -> ExplainReport:
    """:func:`explain` with settings already resolved; ``database`` is an open connection to read the history
    through instead of ``settings.database_url`` (the scratch database is still made on the server of
    ``settings.database_url``). Writes only the scratch database; raises what :func:`explain` raises."""
    tracks: tuple[Track, ...] = ("migrate", "seed") if seeds else ("migrate",)
    found = discover_tracks(settings.directory, tracks)
    with connect(database, settings) as conn:
        rows = history.read(conn, settings.history).rows
    applied, pending = _split(found, rows, tracks, settings.allow_out_of_order)
    if not pending:
        return ExplainReport((), tuple(f.name for f in applied))
    # Every file is rendered and split first: a template error stops explain before the scratch database exists.
    prepared: runner.Prepared = {}
    for track in tracks:
        for files in (applied, pending):
            prepared.update(runner.prepare(_plan(track, files), settings))
    measured: list[FileExplained] = []
    with scratch_database(settings, purpose="explain") as url:
        scratch = dataclasses.replace(settings, database_url=url, url_source="the scratch database")
        with connect(None, scratch) as conn:
            # Nobody else uses the scratch database, but every migration checks that its run holds the lock.
            conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(settings.history),))
            history.ensure(conn, settings.history, history.read(conn, settings.history).state)
            for track in tracks:
                _catch_up(conn, _plan(track, applied), prepared, scratch)
            limits = Limits(
                settings.lock_timeout,
                settings.statement_timeout,
                settings.lock_retries,
                settings.role,
                check_connection=conn.info.server_version >= 140000,
                own_connection=owned(conn),
            )
            for f in pending:
                migration, items = prepared[f.name]
                run = FileRun(conn, migration, limits.for_file(migration.source), scratch)
                measured.append(run.run(items, settings.history))
                log.info("explained %s: %d statement(s)", f.name, len(measured[-1].statements))
    return ExplainReport(tuple(measured), tuple(f.name for f in applied))


def _split(
    found: Mapping[Track, Sequence[MigrationFile]],
    rows: Sequence[Applied],
    tracks: tuple[Track, ...],
    allow_out_of_order: bool,
) -> tuple[list[MigrationFile], list[MigrationFile]]:
    """The files the history records as applied, in version order, and the pending ones, in the order ``up``
    would apply them (migrations first). A ``no-transaction`` file that stopped part-way is pending: the scratch
    database runs it whole. Raises the plan's errors (drift, out of order, missing file)."""
    applied: list[MigrationFile] = []
    pending: list[MigrationFile] = []
    for track in tracks:
        if track == "migrate":
            plan = up_plan(found, rows, track, allow_out_of_order)
        else:  # seeds are explained after the migrations pending before them, as if those were applied
            plan = make_plan(found[track], rows, track=track, allow_out_of_order=allow_out_of_order)
        steps = {s.file.name for s in plan.steps}
        recorded = {r.name for r in rows if r.track == track}
        applied += [f for f in found[track] if f.name in recorded and f.name not in steps]
        pending += [s.file for s in plan.steps]
    return applied, pending


def _plan(track: Track, files: Sequence[MigrationFile]) -> Plan:
    return Plan(track, "up", tuple(Step(f, "up") for f in files if f.track == track))


def _catch_up(conn: psycopg.Connection[Any], plan: Plan, prepared: runner.Prepared, settings: config.Settings) -> None:
    """Apply ``plan``'s migrations, already applied on the database, as ``up`` does and without measuring them.
    Raises :class:`MigrationError` saying so when one fails on the scratch database."""
    if not plan.steps:
        return
    try:
        runner.run_plan(conn, plan, prepared, settings, single_transaction=False)
    except MigrationError as exc:
        detail = "it is applied on the database: explain applies it on the scratch database first, unmeasured"
        raise on_scratch(amend(exc, detail=detail)) from exc
