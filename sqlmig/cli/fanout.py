"""``migrate up --schemas …`` and its kin: the fan-out options, the live progress line, the summary, the JSON."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import click

from .. import config
from ..fanout import FanoutReport, TargetResult
from ..model import Track
from ..targets import Target
from . import output
from .exits import EXIT_OK, exit_code

F = Callable[..., Any]


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
    f = click.option("--shard", metavar="I/N", help="Take only the I-th of N disjoint parts of the targets.")(f)
    f = click.option(
        "--schemas-from", metavar="SQL", help="A query returning the target schemas (other columns: their variables)."
    )(f)
    f = click.option("--schemas", metavar="A,B,…", help="Bring each of these schemas up to date: a fan-out.")(f)
    return f


FANOUT_OPTIONS = ("schemas", "schemas_from", "shard", "jobs", "max_failures", "canary")


class Progress:
    """The live line on a terminal: targets done, failed and running, and an estimate of the time left."""

    def __init__(self, total: int, stream: TextIO, jobs: int) -> None:
        self.total, self.stream, self.jobs = total, stream, jobs
        self.done = self.failed = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, result: TargetResult) -> None:
        with self.lock:
            self.done += 1
            self.failed += result.status == "failed"
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self) -> str:
        """``[ 340/1000] 2 failed, 8 running, about 12 s left``: the estimate is the time so far per target done."""
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = f", about {elapsed / self.done * left:.0f} s left" if self.done and left else ""
        running = min(self.jobs, left)
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total}] {self.failed} failed, {running} running{eta}   "

    def end(self) -> None:
        if self.done:
            self.stream.write("\n")
            self.stream.flush()


def summary_text(report: FanoutReport, seconds: float) -> str:
    """One line of counts, then one line per failed target with its error."""
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


def run(
    settings: config.Settings,
    targets: tuple[Target, ...],
    track: Track,
    opts: dict[str, Any],
    to: str | None,
    as_json: bool,
) -> None:
    """Run the fan-out, with the progress line on a terminal's stderr, then print and exit as :func:`code_of`."""
    from ..fanout.runner import up_all

    progress = Progress(len(targets), sys.stderr, opts["jobs"]) if sys.stderr.isatty() and not as_json else None
    started = time.monotonic()
    report = up_all(
        settings,
        targets,
        track=track,
        jobs=opts["jobs"],
        max_failures=opts["max_failures"],
        canary=opts["canary"],
        to=to,
        on_result=progress,
    )
    if progress is not None:
        progress.end()
    code = code_of(report)
    if as_json:
        click.echo(
            output.document(click.get_current_context().command_path.partition(" ")[2], code, report_dict(report))
        )
    else:
        click.echo(summary_text(report, time.monotonic() - started))
    if code:
        sys.exit(code)
