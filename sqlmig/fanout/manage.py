"""Rolling back, accepting and baselining across fan-out targets: ``migrate down|accept|baseline --schemas …``.

Each target is an ordinary call of the :class:`~sqlmig.migrator.Migrator`'s ``down``, ``accept`` or ``baseline``
with the target's own settings (its template context, its own history and lock, as ``up``'s fan-out runs it), so
the exactly-once protocol is the one every run uses. The files are read and hashed once.

Unlike ``up``, these never fall back to ``[tool.sqlmig.targets]``: rolling back, accepting or recording migrations
on every tenant is a choice the caller makes by naming the targets (:func:`chosen_runs` refuses otherwise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import config
from ..errors import ConfigError, ConnectError, SqlmigError
from ..files import discover_tracks
from ..migrator import Migrator, checked_track
from ..model import Conn, Track
from ..run import history, lock
from ..run.connection import connect
from ..targets import parse_shard, shard_of
from .report import FanoutReport, Selection, TargetResult
from .workers import Tally, Workers

if TYPE_CHECKING:
    from ..run.runner import PrepareCache

log = logging.getLogger("sqlmig")

# One target's work: what it changed (rolled back, accepted, recorded), in order; nothing to do is ().
Act = Callable[[Migrator], Sequence[str]]

UNNAMED = (
    "name the targets: schemas, schemas_from or databases_from (shard takes a part of them); rolling back, "
    "accepting and baselining never fall back to [tool.sqlmig.targets]"
)


@dataclass(frozen=True)
class Runs:
    """The chosen targets, each with its own settings, in order; ``shared`` when they are schemas of the database
    of ``settings`` (one connection per worker for all of them), not databases of their own."""

    settings: config.Settings
    named: tuple[tuple[str, config.Settings], ...]
    shared: bool


def chosen_runs(settings: config.Settings, chosen: Selection) -> Runs:
    """The targets ``chosen`` names, with their settings: each schema renders the templates with its name and its
    own variables and has its own history (:meth:`~sqlmig.model.TableName.for_target`); each database is an
    ordinary run with its own history table. Runs ``schemas_from`` and ``databases_from`` read-only. Raises
    :class:`~sqlmig.ConfigError` for no targets named (``[tool.sqlmig.targets]`` is not used here), both schemas
    and databases, and bad or no targets."""
    from .select import databases, select

    part = parse_shard(chosen.shard) if chosen.shard is not None else None
    if chosen.databases_from is not None:
        if chosen.schemas is not None or chosen.schemas_from is not None:
            raise ConfigError("give databases_from or schemas/schemas_from, not both")
        found = [
            d
            for d in databases(settings, chosen.databases_from)
            if part is None or shard_of(d[0], part.count) == part.index
        ]
        # url_source tells the Migrator that it runs a database target, whose errors then advise its URL.
        named = tuple((name, replace(settings, database_url=url, url_source="--databases-from")) for name, url in found)
        return Runs(settings, named, shared=False)
    if chosen.schemas is None and chosen.schemas_from is None:
        raise ConfigError(UNNAMED)
    picked = select(settings, schemas=chosen.schemas, schemas_from=chosen.schemas_from, configured=None, shard=part)
    named = tuple(
        (t.schema, replace(settings, schema=t.schema, vars={**settings.vars, **t.vars}, target=t.schema))
        for t in picked
    )
    return Runs(settings, named, shared=True)


def down_each(
    runs: Runs,
    *,
    track: Track = "migrate",
    steps: int | None = 1,
    to: str | None = None,
    all: bool = False,
    jobs: int = 4,
    max_failures: int | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
) -> FanoutReport:
    """Roll back in every target of ``runs`` what :meth:`~sqlmig.migrator.Migrator.down` would roll back there (the
    last ``steps``, everything newer than ``to``, or ``all``), ``jobs`` targets at a time. Writes.

    A target with nothing to roll back is ``current``; one rolled back is ``applied``, its result naming what was
    rolled back (newest first). A failed target does not stop the others, unless ``max_failures`` failed: no new
    target starts then, and those not started are ``skipped``. ``on_result`` is called with each result as it
    comes (from the worker threads). Raises only what stops every target (:class:`~sqlmig.DiscoveryError`)."""
    from ..run.runner import PrepareCache

    checked_track(track)
    cache = PrepareCache()  # a plain down file rendered and split once for every target
    return _each(
        runs, lambda m: m.down(track, steps=steps, to=to, all=all).names, track, jobs, max_failures, on_result, cache
    )


def accept_each(
    runs: Runs,
    *,
    track: Track = "migrate",
    names: Sequence[str] = (),
    on_result: Callable[[TargetResult], None] | None = None,
) -> FanoutReport:
    """Store, in every target of ``runs``, the current checksums of its edited applied files (``names``, or all of
    ``track``'s), as :meth:`~sqlmig.migrator.Migrator.accept` does; one target at a time, each under its own lock.
    Writes history rows only. A target that changed is ``applied`` (its result names the files), one with nothing
    to accept ``current``. Raises only what stops every target."""
    checked_track(track)
    return _each(runs, lambda m: m.accept(track, names), track, 1, None, on_result)


def baseline_each(
    runs: Runs,
    *,
    track: Track = "migrate",
    to: str,
    on_result: Callable[[TargetResult], None] | None = None,
) -> FanoutReport:
    """Record, in every target of ``runs``, each unrecorded migration of ``track`` up to version ``to`` as applied
    without running it, as :meth:`~sqlmig.migrator.Migrator.baseline` does; one target at a time, each under its
    own lock. Writes history rows only (creating the targets' table first when it does not exist). A target that
    got rows is ``applied`` (its result names them), one that had them all ``current``. Raises only what stops
    every target (:class:`~sqlmig.ConnectError` for the table's creation)."""
    checked_track(track)
    if runs.shared and runs.named:
        _create_targets_table(runs.settings)
    return _each(runs, lambda m: m.baseline(track, to=to), track, 1, None, on_result)


def _create_targets_table(settings: config.Settings) -> None:
    """Create the targets' table once, under its own lock, before the targets take theirs: concurrent ``CREATE
    TABLE IF NOT EXISTS`` of one table can fail, and the targets' locks do not keep two of them apart."""
    table = settings.history
    with connect(None, settings) as conn:
        if history.read_targets(conn, table, []) is not None:
            return
        with lock.hold(conn, table.targets_table, settings.lock_wait):
            history.ensure(conn, table.for_target(""), "missing")  # the targets' table: any target names it


def _each(
    runs: Runs,
    act: Act,
    track: Track,
    jobs: int,
    max_failures: int | None,
    on_result: Callable[[TargetResult], None] | None,
    cache: PrepareCache | None = None,
) -> FanoutReport:
    """``act`` on every target of ``runs`` with the files read once (and, with ``cache``, the plain files rendered
    and split once), and the report of its results in order."""
    files = discover_tracks(runs.settings.directory, ("migrate", "seed"))
    tally = Tally(max_failures, on_result)

    def run(own: config.Settings, conn: Conn) -> Sequence[str]:
        return act(Migrator(own, conn, files, cache))

    results = {r.target: r for r in _pooled(runs, run, jobs, tally)}
    return FanoutReport(track, tuple(results[name] for name, _ in runs.named))


def _pooled(
    runs: Runs, act: Callable[[config.Settings, Conn], Sequence[str]], jobs: int, tally: Tally
) -> Iterator[TargetResult]:
    """Each target's result, in order, from at most ``jobs`` threads. A thread the server has no connection for
    gives its target to the others (see :meth:`Workers.map`), as ``up``'s do. An interrupt (Ctrl-C) cancels the
    statements running on every connection (their transactions roll back), starts no other target, and goes on."""
    if not runs.named:
        return
    with Workers(runs.shared) as workers:

        def one(named: tuple[str, config.Settings]) -> TargetResult:
            name, own = named
            if tally.stopped():
                return tally.add(TargetResult(name, "skipped"))
            started = time.perf_counter()
            try:
                with workers.connection(own) as conn:
                    changed = tuple(act(own, conn))
            except SqlmigError as exc:
                log.info("%s failed: %s", name, config.redact(str(exc)))
                done = tuple(getattr(exc, "applied", ()))  # committed in this run before the failure
                return tally.add(TargetResult(name, "failed", done, (time.perf_counter() - started) * 1000, exc))
            elapsed = (time.perf_counter() - started) * 1000
            return tally.add(TargetResult(name, "applied" if changed else "current", changed, elapsed))

        def refused(named: tuple[str, config.Settings], exc: ConnectError) -> TargetResult:
            log.info("%s failed: %s", named[0], config.redact(str(exc)))
            return tally.add(TargetResult(named[0], "failed", error=exc))

        yield from workers.map(one, runs.named, jobs, refused=refused, stop=tally.cancel)
