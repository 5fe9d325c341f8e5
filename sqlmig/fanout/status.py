"""Which targets are behind, and on which migrations: every target's history in one query, planned without a lock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .. import config
from ..errors import SqlmigError
from ..files import discover_tracks
from ..migrator import checked_track
from ..model import Track
from ..plan import history_options, up_plan
from ..run import history
from ..run.connection import connect
from ..targets import Target


@dataclass(frozen=True)
class TargetPending:
    """One target's pending migrations of the track, in order; ``error`` when its history cannot be planned (drift,
    a gap), which an ``up`` would report too."""

    target: str
    pending: tuple[str, ...]
    error: SqlmigError | None = None


def status_all(settings: config.Settings, targets: Sequence[Target], track: Track = "migrate") -> list[TargetPending]:
    """The pending migrations of ``track`` of every target, from one query. Read-only; no lock."""
    checked_track(track)
    tracks: tuple[Track, ...] = ("migrate",) if track == "migrate" else ("migrate", "seed")
    files = discover_tracks(settings.directory, tracks)
    with connect(None, settings) as conn:
        rows = history.read_targets(conn, settings.history, [t.schema for t in targets])
    found = []
    for target in targets:
        try:
            applied, selected_by = rows[target.schema] if rows else (), history_options(schema=target.schema)
            plan = up_plan(files, applied, track, settings.allow_out_of_order, selected_by=selected_by)
            found.append(TargetPending(target.schema, tuple(s.file.name for s in plan.steps)))
        except SqlmigError as exc:
            found.append(TargetPending(target.schema, (), exc))
    return found


def status_databases(
    settings: config.Settings, databases: Sequence[tuple[str, str]], track: Track = "migrate"
) -> list[TargetPending]:
    """The pending migrations of ``track`` of every database of ``databases`` (name, URL): one connection and one
    history query each. Read-only; no lock."""
    from ..migrator import Migrator

    files = discover_tracks(settings.directory, ("migrate", "seed"))
    found = []
    for name, url in databases:
        try:
            own = replace(settings, database_url=url, url_source="--databases-from")  # errors name its source
            report = Migrator(own, None, files).status((checked_track(track),))
            found.append(TargetPending(name, tuple(e.name for e in report.pending)))
        except SqlmigError as exc:
            found.append(TargetPending(name, (), exc))
    return found
