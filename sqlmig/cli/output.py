"""How reports look: the CLI's text lines and its JSON documents (one schema for every command).

Every ``--json`` document is one object on stdout with ``"command"`` (e.g. ``"migrate up"``, ``"lint"``),
``"ok"`` (true when the exit code is 0) and ``"exit_code"``, then the command's own fields; when the command
fails, ``"error"`` describes the failure instead (see :func:`error_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DiscoveryError, LockTimeout, MigrationError, PlanError, RenderError, SqlmigError, StoppedMigration
from ..model import Direction, Report, StatusReport, Track
from .exits import exit_code

if TYPE_CHECKING:
    from ..preview import PreviewStep

FORMAT_VERSION = 1  # of the JSON documents: raised only when a field changes meaning or goes away


def document(command: str, exit_code: int, body: dict[str, Any]) -> str:
    """The JSON document of ``command``: the common fields, then ``body``."""
    head = {"command": command, "ok": exit_code == 0, "exit_code": exit_code, "format": FORMAT_VERSION}
    return json.dumps({**head, **body})


def error_dict(exc: SqlmigError, redact: Callable[[str], str] = str) -> dict[str, Any]:
    """``{"type", "message", "exit_code"}`` and, where the error has them: ``path``, ``line``, ``column``,
    ``sqlstate``, ``statement``, ``detail``, ``hint``, ``applied`` (migrations applied before the failure),
    ``outcome`` (what became of a migration stopped by sqlmig's own failure or a lost connection),
    ``problems`` (``[{"path", "line", "message"}]``), ``names`` (the migrations concerned), ``holder`` (who held
    the lock). ``redact`` hides passwords in the message."""
    found: dict[str, Any] = {"type": type(exc).__name__, "message": redact(str(exc)), "exit_code": exit_code(exc)}
    if isinstance(exc, (MigrationError, StoppedMigration)):
        found.update(
            path=str(exc.path),
            line=exc.line,
            column=exc.column,
            sqlstate=exc.sqlstate,
            statement=exc.statement,
            detail=exc.detail,
            hint=exc.hint,
            applied=list(exc.applied),
        )
        if isinstance(exc, StoppedMigration):
            found["outcome"] = exc.outcome
    elif isinstance(exc, RenderError):
        found.update(path=str(exc.path), line=exc.line, hint=exc.hint)
    elif isinstance(exc, DiscoveryError):
        found["problems"] = [{"path": str(p.path), "line": p.line, "message": p.message} for p in exc.problems]
    elif isinstance(exc, PlanError):
        found["names"] = list(exc.names)
    elif isinstance(exc, LockTimeout):
        found["holder"] = exc.holder
    return found


def path_text(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def report_dict(report: Report) -> dict[str, Any]:
    """``{"track", "direction", "results": [{"track", "version", "name", "direction", "duration_ms"}], "ahead"}``;
    ``ahead`` names the history rows a newer release applied, which the run left alone."""
    results = [
        {
            "track": r.track,
            "version": r.version,
            "name": r.name,
            "direction": r.direction,
            "duration_ms": round(r.duration_ms, 1),
        }
        for r in report.results
    ]
    return {"track": report.track, "direction": report.direction, "results": results, "ahead": list(report.ahead)}


def report_text(report: Report) -> str:
    """One summary line; the per-migration lines are logged as they happen."""
    if not report:
        return f"Nothing to do: {report.track} is up to date." if report.direction == "up" else "Nothing to roll back."
    verb = "Applied" if report.direction == "up" else "Rolled back"
    return f"{verb} {len(report)} {report.track} migration(s)."


def status_dict(report: StatusReport) -> dict[str, Any]:
    """``{"migrations": [{"track", "version", "name", "state", "executed_at", "stopped_at", "stopped_line"}],
    "pending", "problems", "future"}``; ``stopped_at``/``stopped_line`` are null except for ``partial``
    migrations; ``future`` counts the migrations applied by a newer release."""
    rows = [
        {
            "track": e.track,
            "version": e.version,
            "name": e.name,
            "state": e.state,
            "executed_at": e.executed_at.isoformat() if e.executed_at else None,
            "stopped_at": e.stopped_at,
            "stopped_line": e.stopped_line,
        }
        for e in report.entries
    ]
    return {
        "migrations": rows,
        "pending": len(report.pending),
        "problems": len(report.problems),
        "future": len(report.future),
    }


def status_text(report: StatusReport) -> str:
    """A section per track, one aligned line per migration, and a summary line."""
    width = max((len(e.name) for e in report.entries), default=0)
    lines = []
    for track in ("migrate", "seed"):
        entries = [e for e in report.entries if e.track == track]
        if entries:
            lines.append(f"{track}:")
        for e in entries:
            when = e.executed_at.strftime("%Y-%m-%d %H:%M:%S") if e.executed_at else ""
            if e.state == "partial":
                when = f"stopped at statement {e.stopped_at} (line {e.stopped_line}); up continues there"
            elif e.state == "future":
                # Normal during a rolling deploy or rollback: say so, so that nobody restores or deletes rows.
                when = f"{when}  applied by a newer release (no file here; up leaves it, down stops at it)".lstrip()
            lines.append(f"  {e.state:<8} {e.name:<{width}}  {when}".rstrip())
    newer = f", {len(report.future)} applied by a newer release" if report.future else ""
    lines.append(f"{len(report.pending)} pending, {len(report.problems)} need attention{newer}.")
    return "\n".join(lines)


def preview_dict(steps: Sequence[PreviewStep], track: Track, direction: Direction) -> dict[str, Any]:
    """``{"track", "direction", "dry_run": true, "steps": [{"track", "name", "direction", "path", "transactional",
    "sql"}]}``; ``sql`` is null for a file too large to hold in memory (it is streamed from ``path``)."""
    rows = [
        {
            "track": s.track,
            "name": s.name,
            "direction": s.direction,
            "path": path_text(s.path),
            "transactional": s.transactional,
            "sql": s.sql,
        }
        for s in steps
    ]
    return {"track": track, "direction": direction, "dry_run": True, "steps": rows}


def preview_text(steps: Sequence[PreviewStep], track: Track, direction: Direction) -> str:
    """Each migration's SQL under a ``--`` header naming it; the last line says how many and that nothing ran."""
    verb = "apply" if direction == "up" else "roll back"
    parts = []
    for s in steps:
        mode = "" if s.transactional else ", no-transaction"
        sql = s.sql if s.sql is not None else f"-- (streamed from the file: {s.path.stat().st_size} bytes)\n"
        parts.append(f"-- would {verb} {s.name} ({path_text(s.path)}{mode})\n{sql.rstrip()}\n")
    parts.append(f"-- dry run: {len(steps)} {track} migration(s) would {verb}; nothing was changed.")
    return "\n".join(parts)
