"""``python -m bench [--quick] [--only WORKLOAD,...] [--reps N]``: sqlmig against the psql floor on one throwaway
server, printed as a markdown table (stdout) and written to ``bench/results/latest.md``.

Progress goes to stderr, one line per timed run. See bench/README.md for the method and the targets.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from . import fanout_files, lint_files, report, workloads
from .runners import ROOT, BenchError, Runner
from .server import cluster
from .suites import WARMUP_N, Series, Suite, Workload

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
QUICK_SEED_MIB = (20,)
FULL_SEED_MIB = (50, 200)
# A quick run must stay under 2 minutes on 2 cores: its render workload is smaller.
QUICK_RENDER_N = 200
FULL_RENDER_N = 1000
FANOUT_PER_TARGET = 20
QUICK_FANOUT_SCHEMAS = 50
FULL_FANOUT_SCHEMAS = 1000


def plan(quick: bool) -> list[Workload]:
    """Every workload of a mode, in the order they run. Small workloads get 5 repetitions in a full run, big
    ones (and everything in a quick run) 3, fanout-1000x20 2. A quick run leaves out N=10000, noop-100, the
    50/200 MB seeds (it seeds 20 MB) and fanout-noop-10000, renders 200 files instead of 1000 and fans out to 50
    schemas, not 1000."""
    small = 3 if quick else 5
    big = 3
    found = [
        Workload("apply-100", "apply", 100, small),
        Workload("apply-1000", "apply", 1000, small),
    ]
    if not quick:
        found.append(Workload("apply-10000", "apply", 10000, big))
    if not quick:
        found.append(Workload("noop-100", "noop", 100, small))
    found.append(Workload("noop-1000", "noop", 1000, small))
    if not quick:
        found.append(Workload("noop-10000", "noop", 10000, small))
    found.append(Workload("concurrent-32", "concurrent", 200, big))
    for mib in QUICK_SEED_MIB if quick else FULL_SEED_MIB:
        for kind in ("copy", "insert"):
            found.append(Workload(f"big-seed-{kind}-{mib}MB", "seed", 1, big, mib, kind))
    render = QUICK_RENDER_N if quick else FULL_RENDER_N
    found.append(Workload(f"render-{render}", "render", render, small))
    found.append(Workload("lint-70", "lint", 70, small))
    return found + fanout_plan(quick)


def fanout_plan(quick: bool) -> list[Workload]:
    """The fan-out workloads: NxM schemas x migrations from empty (1000x20, 50x20 in a quick run), then the no-op
    fan-out over 1,000 up-to-date schemas, and in a full run over 10,000 (the memory target compares the two)."""
    schemas = QUICK_FANOUT_SCHEMAS if quick else FULL_FANOUT_SCHEMAS
    # 1000x20 takes 2-3 minutes a repetition with its set-up: 2 of them keep the full run near 20 minutes.
    reps = 3 if quick else 2
    name = f"fanout-{schemas}x{FANOUT_PER_TARGET}"
    found = [Workload(name, "fanout", schemas * FANOUT_PER_TARGET, reps, targets=schemas)]
    for n, reps in ((1000, 3 if quick else 5), *(() if quick else ((10000, 3),))):
        found.append(Workload(f"fanout-noop-{n}", "fanout-noop", n * FANOUT_PER_TARGET, reps, targets=n))
    return found


def select(workloads_: list[Workload], only: str | None, reps: int | None) -> list[Workload]:
    """Keep the workloads named in ``only`` (a name, or a prefix such as ``apply`` or ``big-seed``); apply
    ``reps``. Raises SystemExit for a name that matches nothing in this mode."""
    chosen = workloads_
    if only:
        wanted = [w.strip() for w in only.split(",") if w.strip()]
        known = [w.name for w in workloads_]
        unknown = [x for x in wanted if not any(n == x or n.startswith(f"{x}-") for n in known)]
        if unknown:
            sys.exit(f"--only: no workload {', '.join(unknown)} in this mode; known: {', '.join(known)}")
        chosen = [w for w in workloads_ if any(w.name == x or w.name.startswith(f"{x}-") for x in wanted)]
    if reps is not None:
        chosen = [replace(w, reps=reps) for w in chosen]
    return chosen


def _source_state() -> str:
    """The commit benchmarked, and whether sqlmig/ had uncommitted changes: results depend on them."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sqlmig"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}{' with uncommitted changes in sqlmig/' if dirty else ''}"


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the context managers, which stop the server and remove its files.
    sys.exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status (1 when a run failed and the benchmark stopped)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions, small N and sizes only (< 2 min)")
    parser.add_argument("--only", metavar="WORKLOAD,...", help="run only these workloads (names or prefixes)")
    parser.add_argument("--reps", type=int, metavar="N", help="repetitions of every workload (default 3 or 5)")
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    chosen = select(plan(args.quick), args.only, args.reps)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {line}", file=sys.stderr, flush=True)

    series: list[Series] = []
    try:
        progress("generating workload files (cached in bench/.cache/)")
        _generate(chosen)
        with cluster() as server, tempfile.TemporaryDirectory(prefix="sqlmig-bench-work-") as work:
            progress(f"server: {server.version}, port {server.port}")
            runner = Runner(server, Path(work))
            try:
                suite = Suite(runner, progress)
                progress("warm-up (untimed)")
                suite.warm_up()
                for workload in chosen:
                    series += suite.run(workload)
            finally:
                runner.close()
    except BenchError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmark interrupted; the server was stopped and its files removed", file=sys.stderr)
        return 130
    total = time.perf_counter() - started
    header = [
        f"- mode: {'--quick' if args.quick else 'full'}"
        + (f", only {args.only}" if args.only else "")
        + (f", {args.reps} reps" if args.reps else ""),
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}",
        f"- server: {server.version}, default durability (fsync, synchronous_commit, full_page_writes on)",
        f"- sqlmig: {_source_state()}",
        f"- 1-minute load average: {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        "(other work on the machine shows up here and in the min-max spread)",
    ]
    text = report.document(series, header) + f"\nTotal elapsed: {total:.1f} s\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    progress(f"done in {total:.1f} s; written to {RESULTS.relative_to(ROOT)}")
    return 0


def _generate(chosen: Sequence[Workload]) -> None:
    """Create (or find in the cache) every file the chosen workloads need, before the clock matters."""
    workloads.warmup_tree()
    workloads.apply_tree(WARMUP_N)
    for w in chosen:
        if w.kind in ("apply", "noop", "concurrent"):
            workloads.apply_tree(w.n)
        elif w.kind == "seed":
            workloads.seed_tree(w.seed_kind, w.size_mib)
        elif w.kind == "lint":
            lint_files.lint_tree()
        elif w.kind == "render":
            workloads.render_trees(w.n)
        elif w.kind == "fanout":
            fanout_files.floor_scripts(w.targets, w.n // w.targets)  # and the tree they are rendered from
        elif w.kind == "fanout-noop":
            fanout_files.tree(w.n // w.targets)
