"""The lint and verify reports as text for a terminal and as JSON-ready data. Pure."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import path_text

if TYPE_CHECKING:  # the reports' types only: `sqlmig --help` and `migrate up` load neither lint nor verify
    from ..lint import LintReport
    from ..verify import VerifyReport


def lint_text(report: LintReport) -> str:
    """The report as text: ``path:line:column: CODE severity: message`` and an indented hint per finding, then
    a summary line. Paths are relative to the working directory when they are inside it."""
    lines = []
    for f in report.findings:
        lines.append(f"{_shown(f.path)}:{f.line}:{f.column}: {f.code} {f.severity}: {f.message}")
        lines.append(f"    hint: {f.hint}")
    errors, warnings = len(report.errors), len(report.warnings)
    checked = f"checked {_count(report.files, 'file')}"
    if not report.findings:
        lines.append(f"{checked}: no problems found")
    else:
        lines.append(f"{checked}: {_count(errors, 'error')}, {_count(warnings, 'warning')}")
    return "\n".join(lines) + "\n"


def lint_dict(report: LintReport) -> dict[str, Any]:
    """The report as a JSON-ready dict: ``findings`` (each with code, severity, path, line, column, message and
    hint), the number of ``files`` checked, and the numbers of ``errors`` and ``warnings``."""
    return {
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "path": _shown(f.path),
                "line": f.line,
                "column": f.column,
                "message": f.message,
                "hint": f.hint,
            }
            for f in report.findings
        ],
        "files": report.files,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
    }


def _shown(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def verify_text(report: VerifyReport) -> str:
    """The report as text for a terminal: one block per problem (kind, migration, file, message, diff lines),
    then a summary line. Pure."""
    lines = []
    for p in report.problems:
        lines += [f"{p.kind}: {p.track} {p.name}: {p.message}", *([f"  file: {path_text(p.path)}"] if p.path else [])]
        lines += [f"  {line}" for line in p.diff]
    if any(p.diff for p in report.problems):
        lines.append("(+ there but not expected, - expected but missing, ~ changed)")
    found = "each down undoes its up" if report.ok else f"{len(report.problems)} problem(s)"
    lines.append(f"{'ok' if report.ok else 'FAILED'}: {len(report.checked)} migration(s) checked, {found}")
    return "\n".join(lines)


def verify_dict(report: VerifyReport) -> dict[str, Any]:
    """The report as JSON-ready data: ``ok``, ``checked`` and ``problems`` (each with ``kind``, ``name``,
    ``track``, ``path`` or null, ``message`` and ``diff``). Pure."""
    problems = [
        {**dataclasses.asdict(p), "path": None if p.path is None else path_text(p.path), "diff": list(p.diff)}
        for p in report.problems
    ]
    return {"ok": report.ok, "checked": list(report.checked), "problems": problems}
