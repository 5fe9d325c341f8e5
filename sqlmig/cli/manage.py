"""``migrate down|accept|baseline --schemas …``: the targets of ``up``'s fan-out, always named on the command line,
each rolled back, accepted or baselined on its own; ``up``'s summary, JSON document and exit code.

With ``[tool.sqlmig.targets]`` configured, a plain ``up`` or ``status`` fans out over the configured targets, but a
plain ``down``, ``accept`` or ``baseline`` is refused: ``up`` converges (every target to the files, nothing to do
is nothing), while these undo migrations or rewrite what a history says, and doing that to every tenant because
the targets happen to be configured is not what ``sqlmig migrate down`` should mean. The refusal shows the option
that takes the configured targets explicitly.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from .. import config
from ..model import Track
from . import fanout, output
from .options import command_name

if TYPE_CHECKING:
    from ..fanout import FanoutReport, TargetResult, TargetStatus
    from ..fanout.manage import Runs
    from ..migrator import Migrator
    from ..targets import TargetsConfig

F = Callable[..., Any]
# What each command did to a target whose status is "applied" (the report's word for "changed").
DONE = {"down": "rolled back", "accept": "accepted", "baseline": "recorded"}
# How many configured names the refusal spells out as a --schemas option; beyond that, it says where they are.
SHOWN_NAMES = 20


def down_options(f: F) -> F:
    """The target options, and how many targets ``down`` runs at a time."""
    f = click.option(
        "--max-failures", type=click.IntRange(min=1), help="Start no new target after this many failed [no limit]."
    )(f)
    f = click.option(
        "--jobs", type=click.IntRange(min=1), default=4, help="Targets at a time, one connection each [4]."
    )(f)
    return fanout.target_options(f)


def pop(opts: dict[str, Any]) -> dict[str, Any]:
    """The fan-out options of ``opts``, taken out of it."""
    return {name: opts.pop(name) for name in (*fanout.TARGET_OPTIONS, "jobs", "max_failures") if name in opts}


def wanted(run: Migrator, fan: dict[str, Any], track: Track, command: str) -> bool:
    """Whether ``command`` fans out: targets named (``--schemas``, ``--schemas-from``, ``--databases-from``).
    Raises ``click.UsageError`` for ``--shard`` alone, and for no target named while ``[tool.sqlmig.targets]`` is
    configured and no ``--schema`` given (see the module's docstring), and for options that do not go together."""
    named = any(fan.get(name) is not None for name in ("schemas", "schemas_from", "databases_from"))
    configured = run.settings.targets if run.settings.schema is None else None
    if not named and (fan.get("shard") is not None or configured is not None):
        raise click.UsageError(refusal(track, command, configured))
    return named and fanout.wanted(run, fan)


def refusal(track: Track, command: str, configured: TargetsConfig | None) -> str:
    """Why ``command`` does not act on targets it was not given, and the options that give them."""
    if configured is None:
        return "--shard takes a part of the targets: name them with --schemas, --schemas-from or --databases-from"
    every = "--schemas with the names of [tool.sqlmig.targets] schemas"
    if configured.schemas_from is not None:
        every = "--schemas-from " + shlex.quote(configured.schemas_from)
    elif len(configured.schemas) <= SHOWN_NAMES and all(
        "," not in s and s == s.strip() for s in configured.schemas
    ):  # each name as --schemas reads it back
        every = "--schemas " + shlex.quote(",".join(configured.schemas))
    return (
        f"[tool.sqlmig.targets] configures fan-out targets, and '{track} {command}' acts only on the targets its "
        f"command line names: name them (--schemas NAME,…), or take every configured one with {every}; or give "
        "--schema NAME for one ordinary run on the ordinary history"
    )


def chosen(run: Migrator, fan: dict[str, Any]) -> Runs:
    """The targets the options name, each with its settings (the Migrator's, with its URL: the embedded
    server's when it chose that)."""
    from ..fanout.manage import chosen_runs
    from ..fanout.report import Selection

    url = run.database if isinstance(run.database, str) else run.settings.database_url
    selection = Selection(fan["schemas"], fan["schemas_from"], fan["databases_from"], fan["shard"])
    return chosen_runs(replace(run.settings, database_url=url), selection)


def each(
    runs: Runs,
    command: str,
    work: Callable[[Callable[[TargetResult], None] | None], FanoutReport],
    *,
    jobs: int = 1,
    as_json: bool,
) -> None:
    """Run ``work`` (one of :mod:`sqlmig.fanout.manage`'s, over ``runs``, ``jobs`` at a time) with the progress line
    on a terminal's stderr, print the summary (or the JSON document) and exit with the first failed target's exit
    code."""
    progress = fanout.Progress(len(runs.named), sys.stderr, jobs) if sys.stderr.isatty() and not as_json else None
    started = time.monotonic()
    report = work(progress)
    if progress is not None:
        progress.end()
    code = fanout.code_of(report)
    if as_json:
        click.echo(output.document(command_name(), code, fanout.report_dict(report)))
    else:
        click.echo(summary_text(report, command, time.monotonic() - started))
    if code:
        sys.exit(code)


def summary_text(report: FanoutReport, command: str, seconds: float) -> str:
    """``up``'s summary in the words of ``command``: one line of counts, a line per target it changed (what it
    did there), then a line per failed target with its error."""
    words: dict[TargetStatus, str] = {
        "applied": DONE[command],
        "current": "unchanged",
        "failed": "failed",
        "skipped": "skipped",
    }
    counts = ", ".join(f"{report.count(status)} {word}" for status, word in words.items())
    head = f"{report.track} {command} on {len(report.results)} target(s): {counts} ({seconds:.1f} s)."
    changed = [f"  {r.target}: {DONE[command]} {', '.join(r.applied)}" for r in report.results if r.status == "applied"]
    failures = [f"  {r.target}: {config.redact(str(r.error))}" for r in report.failed]
    return "\n".join([head, *changed, *failures])


def down(
    run: Migrator,
    track: Track,
    fan: dict[str, Any],
    *,
    steps: int | None,
    to: str | None,
    all_: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """``down`` over the targets: on a terminal, ``--all`` asks first (unless ``yes``), naming how many targets."""
    from ..fanout.manage import down_each

    runs = chosen(run, fan)
    if all_ and not yes and sys.stdin.isatty():
        click.confirm(f"Roll back ALL applied {track} files of {len(runs.named)} target(s)?", abort=True)
    jobs, limit = fan["jobs"], fan["max_failures"]

    def work(progress: Callable[[TargetResult], None] | None) -> FanoutReport:
        return down_each(
            runs, track=track, steps=steps, to=to, all=all_, jobs=jobs, max_failures=limit, on_result=progress
        )

    each(runs, "down", work, jobs=jobs, as_json=as_json)


def accept(run: Migrator, track: Track, fan: dict[str, Any], names: tuple[str, ...], *, as_json: bool) -> None:
    """``accept`` over the targets, one at a time."""
    from ..fanout.manage import accept_each

    runs = chosen(run, fan)
    each(
        runs,
        "accept",
        lambda progress: accept_each(runs, track=track, names=names, on_result=progress),
        as_json=as_json,
    )


def baseline(run: Migrator, track: Track, fan: dict[str, Any], to: str, *, as_json: bool) -> None:
    """``baseline`` over the targets, one at a time."""
    from ..fanout.manage import baseline_each

    runs = chosen(run, fan)
    each(
        runs, "baseline", lambda progress: baseline_each(runs, track=track, to=to, on_result=progress), as_json=as_json
    )
