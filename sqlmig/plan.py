"""Planning, pure: files + history rows + options -> Plan, or a PlanError saying what needs a decision.

Touches no connection and no file; every rule here is table-tested in tests/test_plan.py.

A history row without a file is *ahead* when its version is newer than every file of its track: a newer release
of the application applied it, and this one (still rolling out, rolled back, a slow replica) runs beside it, as
Flyway's ``ignoreMigrationPatterns=*:future`` allows. ``up`` and ``status`` accept such rows; ``down`` refuses to
roll back underneath them. A row without a file that is not newer than every file is *missing*: an error.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .errors import DriftError, MissingDownError, MissingFileError, OutOfOrderError, PendingMigrationsError, PlanError
from .model import Applied, MigrationFile, Plan, StatusEntry, StatusState, Step, Track, version_of

ACCEPT_HINT = "if the edit was intended, record the new checksum with: sqlmig {track} accept {names}{selected_by}"


@dataclass(frozen=True)
class DownTarget:
    """How far a rollback goes: ``steps`` migrations, everything newer than ``to``, or ``all``."""

    steps: int | None = 1
    to: str | None = None
    all: bool = False


def history_options(*, schema: str | None = None, database: str | None = None) -> str:
    """The command-line options that select a fan-out target's history, with a leading space, for the commands an
    error advises (so that they act on that target, not on the ordinary history): `` --schemas NAME`` for schema
    target ``schema`` (`` --schemas-from "SELECT 'NAME'"`` when a comma or surrounding spaces keep ``--schemas``
    from taking it as one name), `` --database-url URL`` for a database target; "" for an ordinary run. Quoted for
    a POSIX shell (a password in ``database`` is the printer's to hide). Pure."""
    if schema is not None:
        if "," in schema or schema != schema.strip():
            return " --schemas-from " + shlex.quote("SELECT '" + schema.replace("'", "''") + "'")
        return " --schemas " + shlex.quote(schema)
    return " --database-url " + shlex.quote(database) if database is not None else ""


def applied_version(row: Applied) -> str:
    """The version of a history row; rows written by the seed's runner have none, so it is read off the name."""
    return row.version or version_of(row.name)


def make_plan(
    files: Sequence[MigrationFile],
    applied: Sequence[Applied],
    *,
    track: Track,
    allow_out_of_order: bool = False,
    selected_by: str = "",
) -> Plan:
    """The pending migrations of ``track``, oldest first.

    Raises :class:`MissingFileError` for history rows without files unless they are ahead (newer than every file;
    the plan lists them in ``ahead``), :class:`DriftError` for applied files whose checksum changed, and
    :class:`OutOfOrderError` for pending files older than the newest applied one, ahead rows included (unless
    ``allow_out_of_order``). The commands the errors advise end with ``selected_by`` (see :func:`history_options`).
    """
    rows = _rows(applied, track)
    ahead = _check_consistent(files, rows, track, selected_by)
    pending = [f for f in files if f.name not in rows or rows[f.name].partial]
    newest = max((applied_version(r) for r in rows.values() if not r.partial), default="")
    late = [f.name for f in pending if f.version < newest]
    if late and not allow_out_of_order:
        raise OutOfOrderError(
            f"{len(late)} pending {track} migration(s) are older than the newest applied one ({newest}): "
            f"{', '.join(late)}. Rename them to a newer timestamp, or apply them anyway with --allow-out-of-order.",
            late,
        )
    return Plan(track, "up", tuple(Step(f, "up", rows.get(f.name)) for f in pending), ahead)


def make_down_plan(
    files: Sequence[MigrationFile],
    applied: Sequence[Applied],
    *,
    track: Track,
    target: DownTarget,
    selected_by: str = "",
) -> Plan:
    """The applied migrations of ``track`` to roll back, newest first.

    Raises :class:`PlanError` for an unknown ``to`` version or a bad step count, :class:`MissingFileError` when
    the selection includes rows that are ahead of the files (a newer release must roll those back first: undoing
    an older migration underneath them could break them), :class:`MissingDownError` listing every selected
    migration without a ``.down.sql``, and the consistency errors of :func:`make_plan` (whose ``selected_by`` it
    takes).
    """
    rows = _rows(applied, track)
    _check_consistent(files, rows, track, selected_by)
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
    newer = [r.name for r in chosen if r.name not in by_name]
    if newer:
        raise MissingFileError(
            f"cannot roll back: {len(newer)} applied {track} migration(s) are newer than every file here, applied "
            f"by a newer release: {', '.join(newer)}. Rolling back an older migration underneath them could break "
            "them, so nothing was rolled back. Roll them back with the newer release first "
            f"('sqlmig {track} down{selected_by}' from it), then run this one.",
            newer,
        )
    no_down = [r.name for r in chosen if by_name[r.name].down is None]
    if no_down:
        raise MissingDownError(
            f"cannot roll back: no .down.sql for {', '.join(no_down)}; nothing was rolled back. "
            "Write the down file(s), or roll back fewer steps.",
            no_down,
        )
    return Plan(track, "down", tuple(Step(by_name[r.name], "down") for r in chosen))


def make_status(files: Sequence[MigrationFile], applied: Sequence[Applied], *, track: Track) -> list[StatusEntry]:
    """The state of every migration of ``track``: applied, pending, partial, drifted, missing or future (applied
    by a newer release: a row without a file, newer than every file), in version order."""
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
            gone: StatusState = "future" if _is_ahead(row, files) else "missing"
            entries.append(StatusEntry(track, applied_version(row), row.name, gone, row.executed_at))
    return sorted(entries, key=lambda e: (e.version, e.name))


def _rows(applied: Sequence[Applied], track: Track) -> dict[str, Applied]:
    return {r.name: r for r in applied if r.track == track}


def _is_ahead(row: Applied, files: Sequence[MigrationFile]) -> bool:
    # With no file at all, no row is ahead: a folder without files is far more often a wrong --dir than a release
    # that had no migrations of this track yet, and calling every row "applied by a newer release" would hide it.
    return bool(files) and applied_version(row) > max(f.version for f in files)


def _check_consistent(
    files: Sequence[MigrationFile], rows: dict[str, Applied], track: Track, selected_by: str
) -> tuple[Applied, ...]:
    """Raise for rows without files that are not ahead, and for drift; return the rows that are ahead."""
    names = {f.name for f in files}
    unknown = sorted((r for r in rows.values() if r.name not in names), key=lambda r: (applied_version(r), r.name))
    missing = [r.name for r in unknown if not _is_ahead(r, files)]
    if missing:
        why = (
            f"They are not newer than its newest file ({max(f.version for f in files)}), so no newer release "
            "explains them."
            if files
            else "The folder has no migration files at all: check that --dir (directory in [tool.sqlmig]) names the "
            "folder holding migrate/ and seed/."
        )
        raise MissingFileError(
            f"{len(missing)} applied {track} migration(s) have no file in the {track} folder: {', '.join(missing)}. "
            f"{why} Restore the file(s) from version control; if they were removed on purpose, delete their rows "
            "from the history table.",
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
            + ACCEPT_HINT.format(track=track, names=" ".join(drifted), selected_by=selected_by),
            drifted,
        )
    return tuple(r for r in unknown if r.name not in missing)


def ahead_text(rows: Sequence[Applied]) -> str:
    """The warning for history rows a newer release applied: which ones, why that is fine, and what to do if
    this release is meant to stay."""
    shown = ", ".join(f"{r.name} ({r.track})" for r in rows)
    return (
        f"the history is ahead of the files: {len(rows)} applied migration(s) have no file here and are newer than "
        f"every file of their track, applied by a newer release: {shown}. This is expected while a deploy or "
        "rollback of the application is in progress; this release leaves them as they are and applies only its own "
        "pending files. If this release is meant to stay, roll them back with the newer release."
    )


def up_plan(
    files: Mapping[Track, Sequence[MigrationFile]],
    applied: Sequence[Applied],
    track: Track,
    allow_out_of_order: bool,
    to: str | None = None,
    selected_by: str = "",
) -> Plan:
    """:func:`make_plan` for ``up`` of ``track``; seeds only once no migration is pending. For seeds, the plan's
    ``ahead`` also lists the migrate rows that are ahead. With ``to``, only the steps up to that version (which
    must be the version of a file of ``track``). Raises :class:`PendingMigrationsError` for seeds on a schema
    that is not up to date, :class:`PlanError` for a ``to`` no file has, and :func:`make_plan`'s errors; the
    commands they advise end with ``selected_by`` (see :func:`history_options`)."""
    check_to(files[track], track, to)
    plan = _up_plan(files, applied, track, allow_out_of_order, selected_by)
    if to is None:
        return plan
    return replace(plan, steps=tuple(s for s in plan.steps if s.file.version <= to))


def check_to(files: Sequence[MigrationFile], track: Track, to: str | None) -> None:
    """Raise :class:`PlanError` when ``to`` is given and none of ``files`` (those of ``track``) has that version."""
    if to is not None and to not in {f.version for f in files}:
        raise PlanError(f"no {track} migration file has version {to}: give the version of one (YYYYMMDD_HHMMSS)")


def _up_plan(
    files: Mapping[Track, Sequence[MigrationFile]],
    applied: Sequence[Applied],
    track: Track,
    allow_out_of_order: bool,
    selected_by: str,
) -> Plan:
    if track == "seed":
        behind = make_plan(files["migrate"], applied, track="migrate", allow_out_of_order=True, selected_by=selected_by)
        if behind.steps:
            names = [s.file.name for s in behind.steps]
            raise PendingMigrationsError(
                f"{len(names)} migration(s) are pending; seeds run only on an up-to-date schema. "
                f"Run 'sqlmig migrate up{selected_by}' first.",
                names,
            )
        plan = make_plan(
            files["seed"], applied, track="seed", allow_out_of_order=allow_out_of_order, selected_by=selected_by
        )
        return replace(plan, ahead=behind.ahead + plan.ahead)
    return make_plan(files[track], applied, track=track, allow_out_of_order=allow_out_of_order, selected_by=selected_by)
