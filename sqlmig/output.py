"""How reports look: the CLI's text lines and its JSON documents (one schema for every command)."""

from __future__ import annotations

import json

from .model import Report, StatusReport


def report_json(report: Report) -> str:
    """``{"track", "direction", "results": [{"track", "version", "name", "direction", "duration_ms"}]}``."""
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
    return json.dumps({"track": report.track, "direction": report.direction, "results": results})


def report_text(report: Report) -> str:
    """One summary line; the per-migration lines are logged as they happen."""
    if not report:
        return f"Nothing to do: {report.track} is up to date." if report.direction == "up" else "Nothing to roll back."
    verb = "Applied" if report.direction == "up" else "Rolled back"
    return f"{verb} {len(report)} {report.track} migration(s)."


def status_json(report: StatusReport) -> str:
    """``{"migrations": [{"track", "version", "name", "state", "executed_at", "stopped_at", "stopped_line"}],
    "pending", "problems"}``; ``stopped_at``/``stopped_line`` are null except for ``partial`` migrations."""
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
    return json.dumps({"migrations": rows, "pending": len(report.pending), "problems": len(report.problems)})


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
            lines.append(f"  {e.state:<8} {e.name:<{width}}  {when}".rstrip())
    lines.append(f"{len(report.pending)} pending, {len(report.problems)} need attention.")
    return "\n".join(lines)
