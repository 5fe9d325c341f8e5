"""Planning, pure: files + history rows + options -> Plan, or a PlanError saying what needs a decision.

Touches no connection and no file; every rule here is table-tested in tests/test_plan.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import DriftError, MissingDownError, MissingFileError, OutOfOrderError, PendingMigrationsError, PlanError
from .model import Applied, MigrationFile, Plan, StatusEntry, StatusState, Step, Track

ACCEPT_HINT = "if the edit was intended, record the new checksum with: sqlmig {track} accept {names}"


@dataclass(frozen=True)
class DownTarget:
    """How far a rollback goes: ``steps`` migrations, everything newer than ``to``, or ``all``."""

    steps: int | None = 1
    to: str | None = None
    all: bool = False


def applied_version(row: Applied) -> str:
    """The version of a history row; rows written by the seed's runner have none, so it is read off the name."""
    return row.version or row.name[:15]


def make_plan(
    files: Sequence[MigrationFile],
    applied: Sequence[Applied],
    *,
    track: Track,
    allow_out_of_order: bool = False,
) -> Plan:
    """The pending migrations of ``track``, oldest first.

    Raises :class:`MissingFileError` for history rows without files, :class:`DriftError` for applied files whose
    checksum changed, and :class:`OutOfOrderError` for pending files older than the newest applied one (unless
    ``allow_out_of_order``).
    """
    rows = _rows(applied, track)
    _check_consistent(files, rows, track)
    pending = [f for f in files if f.name not in rows or rows[f.name].partial]
    newest = max((applied_version(r) for r in rows.values() if not r.partial), default="")
    late = [f.name for f in pending if f.version < newest]
    if late and not allow_out_of_order:
        raise OutOfOrderError(
            f"{len(late)} pending {track} migration(s) are older than the newest applied one ({newest}): "
            f"{', '.join(late)}. Rename them to a newer timestamp, or apply them anyway with --allow-out-of-order.",
            late,
        )
    return Plan(track, "up", tuple(Step(f, "up", rows.get(f.name)) for f in pending))


def make_down_plan(
    files: Sequence[MigrationFile],
    applied: Sequence[Applied],
    *,
    track: Track,
    target: DownTarget,
) -> Plan:
    """The applied migrations of ``track`` to roll back, newest first.

    Raises :class:`PlanError` for an unknown ``to`` version or a bad step count, :class:`MissingDownError`
    listing every selected migration without a ``.down.sql``, and the consistency errors of :func:`make_plan`.
    """
    rows = _rows(applied, track)
    _check_consistent(files, rows, track)
    by_name = {f.name: f for f in files}
    newest_first = sorted(rows.values(), key=lambda r: (applied_version(r), r.name), reverse=True)
    if target.all:
        chosen = newest_first
    elif target.to is not None:
        if target.to not in {applied_version(r) for r in rows.values()}:
            raise PlanError(f"--to {target.to}: no applied {track} migration has that version")
        chosen = [r for r in newest_first if applied_version(r) > target.to]
    else:
        if target.steps is None or target.steps < 1:
            raise PlanError(f"--steps must be a positive number, got {target.steps}")
        chosen = newest_first[: target.steps]
    no_down = [r.name for r in chosen if by_name[r.name].down is None]
    if no_down:
        raise MissingDownError(
            f"cannot roll back: no .down.sql for {', '.join(no_down)}; nothing was rolled back. "
            "Write the down file(s), or roll back fewer steps.",
            no_down,
        )
    return Plan(track, "down", tuple(Step(by_name[r.name], "down") for r in chosen))


def make_status(files: Sequence[MigrationFile], applied: Sequence[Applied], *, track: Track) -> list[StatusEntry]:
    """The state of every migration of ``track``: applied, pending, partial, drifted or missing, in version
    order."""
    rows = _rows(applied, track)
    entries = []
    for f in files:
        row = rows.get(f.name)
        if row is None:
            entries.append(StatusEntry(track, f.version, f.name, "pending", None))
        elif row.statements_done is not None:
            stopped = row.statements_done + 1
            entries.append(StatusEntry(track, f.version, f.name, "partial", row.executed_at, stopped, row.resume_line))
        else:
            state: StatusState = "drifted" if row.checksum is not None and row.checksum != f.up.checksum else "applied"
            entries.append(StatusEntry(track, f.version, f.name, state, row.executed_at))
    names = {f.name for f in files}
    for row in rows.values():
        if row.name not in names:
            entries.append(StatusEntry(track, applied_version(row), row.name, "missing", row.executed_at))
    return sorted(entries, key=lambda e: (e.version, e.name))


def _rows(applied: Sequence[Applied], track: Track) -> dict[str, Applied]:
    return {r.name: r for r in applied if r.track == track}


def _check_consistent(files: Sequence[MigrationFile], rows: dict[str, Applied], track: Track) -> None:
    names = {f.name for f in files}
    missing = sorted(n for n in rows if n not in names)
    if missing:
        raise MissingFileError(
            f"{len(missing)} applied {track} migration(s) have no file in the {track} folder: "
            f"{', '.join(missing)}. Restore the file(s) from version control; if they were removed on purpose, "
            f"delete their rows from the history table.",
            missing,
        )
    # A partially applied file is expected to change (that is how its failed statement gets fixed); its completed
    # statements are checked when it resumes.
    drifted = [
        f.name
        for f in files
        if f.name in rows and not rows[f.name].partial and rows[f.name].checksum not in (None, f.up.checksum)
    ]
    if drifted:
        raise DriftError(
            f"{len(drifted)} applied {track} migration(s) were edited after they ran: {', '.join(drifted)}. "
            "Revert the edit and put the change in a new migration; "
            + ACCEPT_HINT.format(track=track, names=" ".join(drifted)),
            drifted,
        )


def up_plan(
    files: Mapping[Track, Sequence[MigrationFile]], applied: Sequence[Applied], track: Track, allow_out_of_order: bool
) -> Plan:
    """:func:`make_plan` for ``up`` of ``track``; seeds only once no migration is pending. Raises
    :class:`PendingMigrationsError` for seeds on a schema that is not up to date, and :func:`make_plan`'s
    errors."""
    if track == "seed":
        behind = make_plan(files["migrate"], applied, track="migrate", allow_out_of_order=True)
        if behind.steps:
            names = [s.file.name for s in behind.steps]
            raise PendingMigrationsError(
                f"{len(names)} migration(s) are pending; seeds run only on an up-to-date schema. "
                "Run 'sqlmig migrate up' first.",
                names,
            )
    return make_plan(files[track], applied, track=track, allow_out_of_order=allow_out_of_order)
