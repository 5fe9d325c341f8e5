"""``sqlmig explain``: each pending migration measured on a scratch database, as a table per file or as JSON.
The command parses options, calls :meth:`~sqlmig.Migrator.explain` and prints; the formats are pure."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .exits import EXIT_OK
from .options import Command, finish, handle_errors, migrator, overrides
from .output import path_text

if TYPE_CHECKING:  # `sqlmig --help` does not load the explain package
    from ..explain import ExplainReport, StatementExplained

_WIDEST_STATEMENT = 56
_HEADINGS = ("line", "ms", "statement", "locks taken", "rewrote")
SAMPLED_NOTE = "* ran outside a transaction block: its locks were sampled from other sessions while it ran"


@click.command(
    cls=Command,
    help="Measure each pending statement's locks, rewrites and time. The pending migrations run on a scratch "
    "database, after those already applied; for each statement it reports the locks it took (pg_locks), the tables "
    "and indexes it rewrote (their relfilenode changed) and its milliseconds.",
)
@click.option(
    "--database-url",
    metavar="URL",
    help="The database whose history says what is pending; its server must let sqlmig create and drop a scratch "
    "database.",
)
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@click.option("--var", multiple=True, metavar="NAME=VALUE", help="Template variable (repeatable).")
@click.option("--schema", help="Value of {{ schema }} in templates.")
@click.option("--history-table", help="History table, schema.table [public.migration_history].")
@click.option("--seeds", is_flag=True, help="Measure the pending seeds too, after the migrations.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
@click.pass_context
@handle_errors
def explain(ctx: click.Context, /, seeds: bool, as_json: bool, **opts: Any) -> None:
    run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
    report = run.explain(seeds=seeds)
    finish(explain_dict(report), explain_text(report), EXIT_OK, as_json)


def explain_text(report: ExplainReport) -> str:
    """A table per migration file (line, milliseconds, the statement's first line, the locks it took, one per
    line, and the relations it rewrote), then a summary line. Pure."""
    before = f"; {len(report.applied)} already applied on the database, not measured" if report.applied else ""
    if not report.files:
        return f"nothing pending: nothing to explain{before}\n"
    blocks = []
    for f in report.files:
        how = "in one transaction" if f.transactional else "no-transaction: each statement on its own"
        rows = [_HEADINGS, *(row for s in f.statements for row in _rows(s))]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADINGS))]
        lines = [f"{f.track} {f.name} ({how})"]
        for row in rows:
            cells = [
                row[0].rjust(widths[0]),
                row[1].rjust(widths[1]),
                *(c.ljust(w) for c, w in zip(row[2:], widths[2:], strict=True)),
            ]
            lines.append(("  " + "  ".join(cells)).rstrip())
        blocks.append("\n".join(lines))
    notes = [SAMPLED_NOTE] if any(s.sampled for f in report.files for s in f.statements) else []
    summary = f"explained {len(report.files)} migration(s) on a scratch database{before}"
    return "\n\n".join(blocks) + "\n" + "".join(f"{n}\n" for n in [*notes, summary])


def _rows(s: StatementExplained) -> list[tuple[str, ...]]:
    locks = [f"{lock.mode} {lock.relation}{' (new)' if lock.new else ''}" for lock in s.locks] or ["-"]
    rewrites = list(s.rewrites) or ["-"]
    text = s.statement if len(s.statement) <= _WIDEST_STATEMENT else s.statement[: _WIDEST_STATEMENT - 1] + "…"
    first = (str(s.line), f"{s.duration_ms:.1f}{'*' if s.sampled else ''}", text)
    height = max(len(locks), len(rewrites))
    return [
        (
            *(first if i == 0 else ("", "", "")),
            locks[i] if i < len(locks) else "",
            rewrites[i] if i < len(rewrites) else "",
        )
        for i in range(height)
    ]


def explain_dict(report: ExplainReport) -> dict[str, Any]:
    """The report as JSON-ready data: ``files`` (each with ``track``, ``name``, ``path``, ``transactional`` and
    ``statements``: ``line``, ``statement``, ``duration_ms``, ``locks`` [``mode``, ``relation``, ``new``],
    ``rewrites``, ``sampled``) and ``applied``. Pure."""
    files = [
        {
            "track": f.track,
            "name": f.name,
            "path": path_text(f.path),
            "transactional": f.transactional,
            "statements": [
                {
                    **dataclasses.asdict(s),
                    "locks": [dataclasses.asdict(lock) for lock in s.locks],
                    "rewrites": list(s.rewrites),
                }
                for s in f.statements
            ],
        }
        for f in report.files
    ]
    return {"files": files, "applied": list(report.applied)}
