"""``migrate up --schemas …`` and its kin: the fan-out options, the live progress line, the summary, the JSON."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

import click

from .. import config
from ..fanout import FanoutReport, TargetResult
from ..fanout.report import Policy, Selection
from ..model import Track
from ..targets import Target, parse_shard, shard_of
from . import output
from .exits import EXIT_OK, EXIT_PENDING, exit_code
from .options import command_name

if TYPE_CHECKING:
    from ..migrator import Migrator

F = Callable[..., Any]


def target_options(f: F) -> F:
    """The options that choose the targets of a fan-out."""
    f = click.option("--shard", metavar="I/N", help="Take only the I-th of N disjoint parts of the targets.")(f)
    f = click.option(
        "--schemas-from", metavar="SQL", help="A query returning the target schemas (other columns: their variables)."
    )(f)
    f = click.option(
        "--databases-from", metavar="FILE|SQL", help="Databases as targets: URLs or names, a line each, or a query."
    )(f)
    f = click.option("--schemas", metavar="A,B,…", help="Each of these schemas, as a target of its own: a fan-out.")(f)
    return f


TARGET_OPTIONS = ("schemas", "schemas_from", "databases_from", "shard")


def fanout_options(f: F) -> F:
    """The options that choose the targets of a fan-out and how it runs them."""
    f = click.option(
        "--canary", type=click.IntRange(min=0), default=0, help="Run this many targets first; stop if one fails."
    )(f)
    f = click.option(
        "--max-failures", type=click.IntRange(min=1), help="Start no new target after this many failed [no limit]."
    )(f)
    f = click.option(
        "--jobs", type=click.IntRange(min=1), default=4, help="Targets at a time, one connection each [4]."
    )(f)
    return target_options(f)


FANOUT_OPTIONS = (*TARGET_OPTIONS, "jobs", "max_failures", "canary")


class Progress:
    """The live line on a terminal: targets done, failed and running, and an estimate of the time left."""

    def __init__(self, total: int, stream: TextIO, jobs: int) -> None:
        self.total, self.stream, self.jobs = total, stream, jobs
        self.done = self.failed = self.width = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, result: TargetResult) -> None:
        with self.lock:
            self.done += 1
            self.failed += result.status == "failed"
            line = self.line()
            self.width = max(self.width, len(line))
            self.stream.write("\r" + line.ljust(self.width))  # spaces over what a longer line left
            self.stream.flush()

    def line(self) -> str:
        """``[ 340/1000] 2 failed, 8 running, about 12 s left``: the estimate is the time so far per target done."""
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = f", about {elapsed / self.done * left:.0f} s left" if self.done and left else ""
        running = min(self.jobs, left)
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total}] {self.failed} failed, {running} running{eta}"

    def end(self) -> None:
        if self.done:
            self.stream.write("\n")
            self.stream.flush()


def summary_text(report: FanoutReport, seconds: float) -> str:
    """One line of counts, then one line per failed target with its error; with no targets, a line that says so."""
    if not report.results:
        return f"{report.track}: no targets, nothing to do."
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("applied", "current", "failed", "skipped"))
    head = f"{report.track} on {len(report.results)} target(s): {counts} ({seconds:.1f} s)."
    failures = [f"  {r.target}: {config.redact(str(r.error))}" for r in report.failed]
    return "\n".join([head, *failures])


def report_dict(report: FanoutReport) -> dict[str, Any]:
    """The ``--json`` body: the counts and every target's result (its error as :func:`output.error_dict`)."""
    return {
        "track": report.track,
        "summary": {s: report.count(s) for s in ("applied", "current", "failed", "skipped")},
        "targets": [
            {
                "target": r.target,
                "status": r.status,
                "applied": list(r.applied),
                "duration_ms": round(r.duration_ms, 1),
                "error": output.error_dict(r.error, config.redact) if r.error is not None else None,
            }
            for r in report.results
        ],
    }


def code_of(report: FanoutReport) -> int:
    """0 when every target is up to date, else the exit code of the first failed target's error."""
    failed = report.failed
    return exit_code(failed[0].error) if failed and failed[0].error is not None else EXIT_OK


def wanted(run: Migrator, fan: dict[str, Any]) -> bool:
    """Whether ``up`` fans out: targets given (``--schemas``, ``--schemas-from``, ``--shard``), or configured in
    ``[tool.sqlmig.targets]`` and no ``--schema`` given (which runs the one schema as an ordinary run)."""
    given = any(fan.get(name) is not None for name in TARGET_OPTIONS)
    if fan.get("databases_from") is not None and (fan.get("schemas") is not None or fan.get("schemas_from")):
        raise click.UsageError("use --databases-from or --schemas/--schemas-from, not both")
    if given and run.settings.schema is not None and fan.get("schemas") is not None:
        raise click.UsageError("use --schema for one ordinary run, or --schemas for a fan-out, not both")
    return given or (run.settings.targets is not None and run.settings.schema is None)


def up(
    run: Migrator, track: Track, fan: dict[str, Any], *, to: str | None, as_json: bool, refused: dict[str, bool]
) -> None:
    """``up`` as a fan-out: choose the targets, run them with the progress line on a terminal's stderr, print the
    summary (or the JSON document) and exit with :func:`code_of`."""
    from ..fanout.runner import up_selected

    for flag, given in refused.items():
        if given:
            raise click.UsageError(f"{flag} is not available with a fan-out (--schemas, --schemas-from, --shard)")
    policy = Policy(fan["jobs"], fan["max_failures"], fan["canary"])
    chosen = Selection(fan["schemas"], fan["schemas_from"], fan["databases_from"], fan["shard"])
    started = time.monotonic()
    shown: list[Progress] = []  # the progress line, made once the number of targets is known

    def start(total: int) -> None:
        shown.extend(p for p in [_progress(total, fan, as_json)] if p is not None)

    def each(result: TargetResult) -> None:
        for line in shown:
            line(result)

    report = up_selected(_settings(run), chosen, policy, track=track, to=to, on_start=start, on_result=each)
    for line in shown:
        line.end()
    code = code_of(report)
    if as_json:
        click.echo(output.document(command_name(), code, report_dict(report)))
    else:
        click.echo(summary_text(report, time.monotonic() - started))
    if code:
        sys.exit(code)


def _progress(total: int, fan: dict[str, Any], as_json: bool) -> Progress | None:
    """The progress line, on a terminal's stderr only."""
    return Progress(total, sys.stderr, fan["jobs"]) if sys.stderr.isatty() and not as_json else None


def _sharded(found: tuple[tuple[str, str], ...], fan: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The databases of ``--shard``'s part (by name, as schemas are), or all of them."""
    if fan["shard"] is None:
        return found
    shard = parse_shard(fan["shard"])
    return tuple(d for d in found if shard_of(d[0], shard.count) == shard.index)


def _settings(run: Migrator) -> config.Settings:
    """The settings of a fan-out: the Migrator's, with its URL (the embedded server's, when it chose that)."""
    url = run.database if isinstance(run.database, str) else run.settings.database_url
    return replace(run.settings, database_url=url)


def _targets(settings: config.Settings, fan: dict[str, Any]) -> tuple[Target, ...]:
    """The targets of a fan-out, chosen by the options."""
    from ..fanout.select import select

    if fan["databases_from"] is not None and (fan["schemas"] or fan["schemas_from"]):
        raise click.UsageError("use --databases-from or --schemas/--schemas-from, not both")
    shard = parse_shard(fan["shard"]) if fan["shard"] is not None else None
    return select(
        settings,
        schemas=fan["schemas"],
        schemas_from=fan["schemas_from"],
        configured=settings.targets,
        shard=shard,
    )


def status(run: Migrator, tracks: tuple[Track, ...], fan: dict[str, Any], *, as_json: bool, exit_code: bool) -> None:
    """``status`` across targets, for each of ``tracks``: which targets are behind, and on which migrations; with
    ``exit_code``, exit with ``EXIT_PENDING`` when one is (or cannot be planned)."""
    from ..fanout.select import databases
    from ..fanout.status import TargetPending, status_all, status_databases

    settings = _settings(run)
    found: dict[Track, list[TargetPending]] = {}
    if fan["databases_from"] is not None:
        chosen = _sharded(databases(settings, fan["databases_from"]), fan)
        found = {track: status_databases(settings, chosen, track) for track in tracks}
    else:
        targets = _targets(settings, fan)
        found = {track: status_all(settings, targets, track) for track in tracks}
    behind = {track: [s for s in found[track] if s.pending or s.error is not None] for track in tracks}
    code = EXIT_PENDING if exit_code and any(behind.values()) else EXIT_OK
    if as_json:
        bodies = [_status_body(track, len(found[track]), behind[track]) for track in tracks]
        click.echo(output.document(command_name(), code, bodies[0] if len(bodies) == 1 else {"tracks": bodies}))
    else:
        lines = []
        for track in tracks:
            lines.append(f"{track}: {len(behind[track])} of {len(found[track])} target(s) behind.")
            lines += [f"  {s.target}: {', '.join(s.pending) or config.redact(str(s.error))}" for s in behind[track]]
        click.echo("\n".join(lines))
    if code:
        sys.exit(code)


def _status_body(track: Track, total: int, behind: list[Any]) -> dict[str, Any]:
    return {
        "track": track,
        "targets": total,
        "behind": [
            {
                "target": s.target,
                "pending": list(s.pending),
                "error": output.error_dict(s.error, config.redact) if s.error is not None else None,
            }
            for s in behind
        ],
    }
