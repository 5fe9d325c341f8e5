"""Which targets of a fan-out are behind: one query over every target's history, before any target runs.

A fleet that is up to date costs that one query, no lock and no connection per target. Reads; writes only the
targets' history table, once, when it does not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext

from .. import config
from ..errors import SqlmigError
from ..model import Conn, MigrationFile, Track
from ..plan import history_options, up_plan
from ..run import history, lock
from ..run.connection import connect
from ..targets import Target
from .report import TargetResult


def behind(
    settings: config.Settings,
    files: Mapping[Track, Sequence[MigrationFile]],
    targets: Sequence[Target],
    track: Track,
    to: str | None,
    results: dict[str, TargetResult],
    done: Callable[[TargetResult], TargetResult],
    given: Conn | None,
) -> list[Target]:
    """The targets that may have something pending, from one query over every target's history (creating the
    targets' table first when it does not exist). Without ``to``, that query returns only the targets whose rows
    are not exactly the files (pending, partial, edited, or applied by a newer release); each of them is run, and
    its own run plans it, refuses it, or finds it current. With ``to``, every target is planned here, and one
    whose plan is refused (drift, a gap) fails here, alone: ``done`` is given its result, which goes in
    ``results``."""
    table, names = settings.history, [t.schema for t in targets]
    tracks: tuple[Track, ...] = ("migrate",) if track == "migrate" else ("migrate", "seed")
    # A given connection is the caller's from connect(): its errors are reported by that, with the URL it names.
    with nullcontext(given) if given is not None else connect(None, settings) as conn:
        if to is None:  # the common case: a target is current when its rows are exactly the files
            found = history.targets_behind(conn, table, names, tracks, [f for t in tracks for f in files[t]])
            if found is not None:
                names_behind = set(found)
                return [t for t in targets if t.schema in names_behind]
        rows = history.read_targets(conn, table, names)
        if rows is None:
            _create_targets_table(conn, settings)
            rows = {t.schema: () for t in targets}
    behind = []
    for target in targets:
        try:
            selected_by = history_options(schema=target.schema)  # its drift advice names the target
            if up_plan(
                files, rows[target.schema], track, settings.allow_out_of_order, to=to, selected_by=selected_by
            ).steps:
                behind.append(target)
        except SqlmigError as exc:
            results[target.schema] = done(TargetResult(target.schema, "failed", error=exc))
    return behind


def _create_targets_table(conn: Conn, settings: config.Settings) -> None:
    """Create the targets' table once, before the targets run: targets hold different locks, and concurrent
    ``CREATE TABLE IF NOT EXISTS`` of one table can fail. Its own lock keeps two fan-outs from racing."""
    table = settings.history
    with lock.hold(conn, table.targets_table, settings.lock_wait):
        history.ensure(conn, table.for_target(""), "missing")  # the targets' table: any target names it
