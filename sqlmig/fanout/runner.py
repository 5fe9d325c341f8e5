"""Running a fan-out: every target's history in one query, then the targets that are behind, ``jobs`` at a time.

Each target is an ordinary run of the :class:`~sqlmig.migrator.Migrator` with the target's own template context
and history (:meth:`~sqlmig.model.TableName.for_target`), so its own lock: different targets run in parallel, the
same target never twice at once, and the exactly-once protocol is the one every run uses. The files are read and
hashed once; the workers are threads, each with one connection that it keeps for the targets it runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace

from .. import config
from ..errors import ConfigError, ConnectError, SqlmigError
from ..files import discover_tracks
from ..migrator import Migrator, checked_track
from ..model import Conn, MigrationFile, Track
from ..plan import check_to
from ..run.connection import connect
from ..targets import Target
from .behind import behind as find_behind
from .report import FanoutReport, Policy, Selection, TargetResult
from .workers import Tally, Workers

log = logging.getLogger("sqlmig")


def up_all(
    settings: config.Settings,
    targets: Sequence[Target],
    *,
    track: Track = "migrate",
    jobs: int = 4,
    max_failures: int | None = None,
    canary: int = 0,
    to: str | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
    conn: Conn | None = None,
    release: Callable[[], None] | None = None,
) -> FanoutReport:
    """Bring every target of ``targets`` up to date on ``track``, ``jobs`` targets at a time. Writes.

    One query reads every target's history; a target with nothing pending is ``current`` without a lock or a
    connection of its own. A failed target does not stop the others, unless ``max_failures`` targets failed (no
    new target starts then) or one of the first ``canary`` targets, run before the rest, failed (none of the rest
    starts). Targets not started are ``skipped``; a rerun finishes exactly the targets that are not up to date.
    ``on_result`` is called with each result as it comes (from the worker threads). The histories are read on
    ``conn`` if given (one from :func:`~sqlmig.run.connection.connect`, which reports its errors; the targets run on
    connections of their own), else on one opened for that; ``release`` is
    called once they are read, before any target runs, so that a caller can close ``conn``. No targets: an
    empty report, and nothing is read or written. Raises only what stops every target:
    :class:`~sqlmig.ConfigError`, :class:`~sqlmig.ConnectError`, :class:`~sqlmig.DiscoveryError`,
    :class:`~sqlmig.PlanError` for a ``to`` no file has (before any target starts)."""
    files = _files(settings, track, to)
    if not targets:  # not even the targets' table: a query that found no tenant leaves the database as it was
        return FanoutReport(track, ())
    results: dict[str, TargetResult] = {}  # the targets not current; a fleet's current ones are not held twice
    done = Tally(max_failures, on_result)
    behind = find_behind(settings, files, targets, track, to, results, done.add, conn)
    if release is not None:
        release()
    running = {t.schema for t in behind}
    for target in targets:  # the current ones are done already: say so, as the others will be
        if target.schema not in running and target.schema not in results:
            done.add(TargetResult(target.schema, "current"))
    runs = [
        (t.schema, replace(settings, schema=t.schema, vars={**settings.vars, **t.vars}, target=t.schema))
        for t in behind
    ]
    for result in _with_policy(runs, files, track, jobs, to, done, canary, shared=True):
        results[result.target] = result
    return FanoutReport(track, tuple(results.get(t.schema) or TargetResult(t.schema, "current") for t in targets))


def up_databases(
    settings: config.Settings,
    databases: Sequence[tuple[str, str]],
    *,
    track: Track = "migrate",
    jobs: int = 4,
    max_failures: int | None = None,
    canary: int = 0,
    to: str | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
) -> FanoutReport:
    """Bring every database of ``databases`` (name, URL) up to date on ``track``, each an ordinary run with its own
    history table and lock, ``jobs`` at a time; the failure policy and the errors are :func:`up_all`'s. Writes."""
    files = _files(settings, track, to)
    done = Tally(max_failures, on_result)
    runs = [(name, replace(settings, database_url=url, url_source="--databases-from")) for name, url in databases]
    results = {r.target: r for r in _with_policy(runs, files, track, jobs, to, done, canary, shared=False)}
    return FanoutReport(track, tuple(results[name] for name, _ in databases))


def _files(settings: config.Settings, track: Track, to: str | None) -> Mapping[Track, Sequence[MigrationFile]]:
    """The files a fan-out of ``track`` reads; a ``to`` no file has is refused here, once, as an ordinary ``up``
    refuses it, rather than by every target."""
    checked_track(track)
    files = discover_tracks(settings.directory, ("migrate",) if track == "migrate" else ("migrate", "seed"))
    check_to(files[track], track, to)
    return files


def _with_policy(
    runs: Sequence[tuple[str, config.Settings]],
    files: Mapping[Track, Sequence[MigrationFile]],
    track: Track,
    jobs: int,
    to: str | None,
    done: Tally,
    canary: int,
    *,
    shared: bool,
) -> Iterator[TargetResult]:
    """The results of ``runs``: the first ``canary`` of them first, and none of the rest if one of those failed."""
    before = done.failures
    yield from pooled(runs[:canary], files, track, jobs, to, done, shared=shared)
    rest = runs[canary:]
    if canary and done.failures > before:
        log.warning("a canary target failed: %d other target(s) not started", len(rest))
        yield from (done.add(TargetResult(name, "skipped")) for name, _ in rest)
        return
    yield from pooled(rest, files, track, jobs, to, done, shared=shared)


def up_selected(
    settings: config.Settings,
    chosen: Selection,
    policy: Policy,
    *,
    track: Track = "migrate",
    to: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
) -> FanoutReport:
    """The fan-out of :func:`sqlmig.apply_all` and of ``up`` with target options: the targets ``chosen`` (see
    :mod:`sqlmig.fanout.select`), run by :func:`up_all` or :func:`up_databases` under ``policy``; ``on_start`` is
    called with the number of targets before the first one runs. Schema targets are chosen and their histories
    read on one connection. Raises :class:`~sqlmig.ConfigError` for no or bad targets."""
    from ..targets import parse_shard, shard_of
    from .select import databases, select

    part = parse_shard(chosen.shard) if chosen.shard is not None else None
    if chosen.databases_from is not None:
        if chosen.schemas is not None or chosen.schemas_from is not None:
            raise ConfigError("give databases_from or schemas/schemas_from, not both")
        found = databases(settings, chosen.databases_from)
        found = tuple(d for d in found if part is None or shard_of(d[0], part.count) == part.index)
        if on_start is not None:
            on_start(len(found))
        return up_databases(
            settings,
            found,
            track=track,
            jobs=policy.jobs,
            max_failures=policy.max_failures,
            canary=policy.canary,
            to=to,
            on_result=on_result,
        )
    with ExitStack() as stack:  # one connection to choose the targets and read their histories, closed before they run
        conn = stack.enter_context(connect(None, settings))
        picked = select(
            settings,
            schemas=chosen.schemas,
            schemas_from=chosen.schemas_from,
            configured=settings.targets,
            shard=part,
            conn=conn,
        )
        if on_start is not None:
            on_start(len(picked))
        return up_all(
            settings,
            picked,
            track=track,
            jobs=policy.jobs,
            max_failures=policy.max_failures,
            canary=policy.canary,
            to=to,
            on_result=on_result,
            conn=conn,
            release=stack.close,
        )


def pooled(
    runs: Sequence[tuple[str, config.Settings]],
    files: Mapping[Track, Sequence[MigrationFile]],
    track: Track,
    jobs: int,
    to: str | None,
    done: Tally,
    *,
    shared: bool,
) -> Iterator[TargetResult]:
    """Run each named run's ``up`` on at most ``jobs`` threads and yield the results in order. With ``shared``
    (targets of one database), each thread keeps one connection for the runs it takes; otherwise (one database
    each) every run opens and closes its own. A thread the server has no connection for gives its run to the
    others (see :meth:`Workers.map`). An interrupt (Ctrl-C) cancels the statements running on every connection,
    so that their migrations roll back at once, starts no other run, and goes on."""
    if not runs:
        return
    with Workers(shared) as workers:

        def run(named: tuple[str, config.Settings]) -> TargetResult:
            name, own = named
            if done.stopped():
                return done.add(TargetResult(name, "skipped"))
            started = time.perf_counter()
            try:
                with workers.connection(own) as conn:
                    report = Migrator(own, conn, files, done.cache).up(track, to=to)
            except SqlmigError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                log.info("%s failed: %s", name, config.redact(str(exc)))
                applied = tuple(getattr(exc, "applied", ()))  # committed in this run before the failure
                return done.add(TargetResult(name, "failed", applied, elapsed, exc))
            elapsed = (time.perf_counter() - started) * 1000
            return done.add(TargetResult(name, "applied" if report.names else "current", report.names, elapsed))

        def refused(named: tuple[str, config.Settings], exc: ConnectError) -> TargetResult:
            log.info("%s failed: %s", named[0], config.redact(str(exc)))
            return done.add(TargetResult(named[0], "failed", error=exc))

        yield from workers.map(run, runs, jobs, refused=refused, stop=done.cancel)
