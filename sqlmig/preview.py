"""Seeing SQL before it runs: one file rendered, and what ``up``/``down`` would run, in order, rendered.

Nothing here takes the migration lock or writes: a dry run reads the history table (when it exists) and the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config
from .errors import DiscoveryError, FileProblem
from .files import discover_tracks, scan_file
from .model import Direction, MigrationFile, Plan, Track
from .naming import NAME_RE
from .plan import DownTarget, make_down_plan, up_plan
from .render import STREAM_THRESHOLD, TemplateContext, render, render_source
from .run import history
from .run.connection import Database, connect
from .run.execute import statements_of


@dataclass(frozen=True)
class PreviewStep:
    """One migration a run would apply or roll back: ``sql`` as it would be sent, or None for a file too large to
    hold in memory (it is streamed from ``path`` when it runs)."""

    track: Track
    name: str
    direction: Direction
    path: Path
    transactional: bool
    sql: str | None


def render_file(
    path: str | Path,
    *,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
) -> str:
    """The SQL of one file as sqlmig would run it: rendered with ``schema`` and ``vars`` (merged over
    ``[tool.sqlmig]``) when it is a template, as it is otherwise. A file named like a migration is read as one;
    any other (a query, a report) is rendered with the same context. Reads the file; writes nothing. Raises
    :class:`~sqlmig.DiscoveryError` for a file sqlmig would refuse (encoding, directives) and
    :class:`~sqlmig.RenderError` for a template error."""
    path = Path(path)
    settings = config.load(schema=schema, vars=vars)
    problems: list[FileProblem] = []
    source = scan_file(path, problems)
    if problems or source is None:
        raise DiscoveryError(problems)
    match = NAME_RE.match(path.name)
    if match is None:
        return render_source(source, _context(settings))
    direction: Direction = "up" if match["kind"] == "up" else "down"
    track: Track = "seed" if path.parent.name == "seed" else "migrate"
    name = path.name.removesuffix(f".{direction}.sql")
    file = MigrationFile(track, match["version"], name, source, source if direction == "down" else None)
    migration = render(file, direction, _context(settings))
    if migration.sql is not None:
        return migration.sql
    return path.read_text(encoding="utf-8-sig")


def dry_run(
    database: Database = None,
    directory: str | Path | None = None,
    *,
    track: Track = "migrate",
    direction: Direction = "up",
    steps: int | None = 1,
    to: str | None = None,
    all: bool = False,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    history_table: str | None = None,
    allow_out_of_order: bool | None = None,
    wait: float | None = None,
) -> list[PreviewStep]:
    """What :func:`~sqlmig.apply` (``direction="up"``, with ``to``) or :func:`~sqlmig.rollback` (``"down"``, with
    ``steps``, ``to`` or ``all``) would run now, in order, rendered. Reads the history table without taking the lock and
    writes nothing; another run may of course change the answer before a real run. Raises the errors
    :func:`~sqlmig.apply` raises before anything runs (files, templates, plan)."""
    settings = config.load(
        database_url=database if isinstance(database, str) else None,
        directory=directory,
        schema=schema,
        vars=vars,
        history_table=history_table,
        allow_out_of_order=allow_out_of_order,
        wait=wait,
    )
    return preview(settings, database, track=track, direction=direction, target=DownTarget(steps, to, all), to=to)


def preview(
    settings: config.Settings,
    database: Database = None,
    *,
    track: Track = "migrate",
    direction: Direction = "up",
    target: DownTarget | None = None,
    to: str | None = None,
) -> list[PreviewStep]:
    """:func:`dry_run` with settings already resolved: ``to`` for ``up``, ``target`` (default: one step) for
    ``down``; ``database`` as in :func:`dry_run`. Reads the history table only."""
    tracks: tuple[Track, ...] = ("migrate", "seed") if track == "seed" else ("migrate",)
    files = discover_tracks(settings.directory, tracks)
    with connect(database, settings) as conn:
        rows = history.read(conn, settings.history).rows
    if direction == "up":
        plan = up_plan(files, rows, track, settings.allow_out_of_order, to=to)
    else:
        plan = make_down_plan(files[track], rows, track=track, target=target or DownTarget())
    return _steps(plan, _context(settings))


def _steps(plan: Plan, context: TemplateContext) -> list[PreviewStep]:
    found = []
    for step in plan.steps:
        migration = render(step.file, step.direction, context)
        statements_of(migration)  # refuses what up would refuse, for the same reasons
        sql = migration.sql
        if sql is None and migration.source.size <= STREAM_THRESHOLD:
            sql = migration.source.path.read_text(encoding="utf-8-sig")
        found.append(
            PreviewStep(
                step.file.track,
                step.file.name,
                step.direction,
                migration.source.path,
                migration.source.transactional,
                sql,
            )
        )
    return found


def _context(settings: config.Settings) -> TemplateContext:
    return TemplateContext(schema=settings.schema, vars=settings.vars, env=settings.env)
