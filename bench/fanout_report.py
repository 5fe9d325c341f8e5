"""The fan-out workloads' part of the report: client CPU per applied migration, and the fan-out targets."""

from __future__ import annotations

import statistics

from .fanout import FANOUT, LOOP, XARGS
from .report import DASH, TIMES, Results, Target, median, peak_rss_mb
from .suites import Series

FLOOR_LIMIT = 1.10  # fan-out / xargs psql floor
LOOP_SPEEDUP = 5.0  # loop / fan-out
NOOP_LIMIT = 1.5  # no-op fan-out CLI / bare psycopg connect
NOOP_TARGETS = 1000  # the no-op target is taken at this many schemas
RSS_GROWTH = 1.10  # peak RSS at 10,000 schemas / at 1,000
CPU_LIMIT = 1.5  # sqlmig's CPU per applied migration / psql's


def cpu(series: Series) -> float | None:
    """The median user+sys CPU seconds of a series, or None where not measured."""
    values = [s.cpu_seconds for s in series.samples if s.cpu_seconds is not None]
    return statistics.median(values) if values else None


def cpu_table(results: Results) -> str:
    """Client CPU (user+sys, the process and the children it waited for) of every fan-out runner: median seconds,
    ms per migration, and the ratio to its floor's. Empty when no fan-out workload ran."""
    rows = [s for s in results.series if s.workload.kind.startswith("fanout")]
    if not rows:
        return ""
    lines = [
        "| workload | runner | median CPU s | CPU ms per migration | ratio to floor's CPU |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for s in rows:
        own = cpu(s)
        floor = results.get(s.workload.name, s.floor) if s.floor else None
        base = cpu(floor) if floor else None
        ratio = f"{own / base:.2f}{TIMES} {s.floor}" if own is not None and base else "(baseline)"
        shown = (f"{own:.3f}", f"{own * 1000 / s.workload.n:.4f}") if own is not None else (DASH, DASH)
        lines.append(f"| {s.workload.name} | {s.runner} | {shown[0]} | {shown[1]} | {ratio} |")
    return "\n".join(lines)


def _apply_targets(results: Results, name: str) -> list[Target]:
    """Fan-out against the xargs psql floor (time and CPU) and against the loop, for workload ``name``."""
    fan, floor, loop = (results.get(name, r) for r in (FANOUT, XARGS, LOOP))
    if fan is None or floor is None:
        return [Target(f"{name}: fan-out ≤ {FLOOR_LIMIT:.2f}{TIMES} xargs psql floor", "not run", None)]
    ratio = median(fan) / median(floor)
    goal = f"{name}: fan-out ≤ {FLOOR_LIMIT:.2f}{TIMES} xargs psql floor"
    found = [
        Target(
            f"{name}: fan-out ≤ {FLOOR_LIMIT:.2f}{TIMES} xargs psql floor", f"{ratio:.2f}{TIMES}", ratio <= FLOOR_LIMIT
        )
    ]
    goal = f"{name}: fan-out ≥ {LOOP_SPEEDUP:.0f}{TIMES} faster than a loop of `sqlmig migrate up --schema`"
    if loop is None:
        found.append(Target(goal, "not run", None))
    else:
        speedup = median(loop) / median(fan)
        measured = f"{speedup:.1f}{TIMES} (loop {median(loop):.1f} s, {loop.note}; fan-out {median(fan):.1f} s)"
        found.append(Target(goal, measured, speedup >= LOOP_SPEEDUP))
    own, base = cpu(fan), cpu(floor)
    goal = f"{name}: client CPU per applied migration, sqlmig ≤ {CPU_LIMIT:.1f}{TIMES} psql (sum of the psql processes)"
    if own is None or not base:
        found.append(Target(goal, "not measured", None))
    else:
        per = 1000 / fan.workload.n
        measured = f"{own * per:.3f} vs {base * per:.3f} ms: {own / base:.2f}{TIMES}"
        found.append(Target(goal, measured, own / base <= CPU_LIMIT))
    return found


def _noop_targets(results: Results) -> list[Target]:
    """The no-op fan-out CLI against the bare connect, and its peak RSS from 1,000 to 10,000 schemas."""
    names = results.names("fanout-noop")
    found: list[Target] = []
    goal = f"fanout-noop-{NOOP_TARGETS}: whole fan-out CLI ≤ {NOOP_LIMIT:.1f}{TIMES} bare psycopg connect"
    ratios = [(n, results.ratio(s)) for n in names if (s := results.get(n, FANOUT))]
    shown = ", ".join(f"{n} {r:.2f}{TIMES}" for n, r in ratios if r is not None)
    wanted = dict(ratios).get(f"fanout-noop-{NOOP_TARGETS}")
    found.append(Target(goal, shown or "not run", None if wanted is None else wanted <= NOOP_LIMIT))
    small, big = (results.get(f"fanout-noop-{n}", FANOUT) for n in (1000, 10000))
    goal = f"fan-out CLI peak RSS flat from 1,000 to 10,000 up-to-date schemas (≤ +{RSS_GROWTH * 100 - 100:.0f}%)"
    a, b = (peak_rss_mb(s) if s else None for s in (small, big))
    if a is None or b is None:
        found.append(Target(goal, "needs fanout-noop-1000 and fanout-noop-10000", None))
    else:
        found.append(Target(goal, f"{a:.0f} → {b:.0f} MB ({(b / a - 1) * 100:+.0f}%)", b <= a * RSS_GROWTH))
    return found


def targets(results: Results) -> list[Target]:
    """Every fan-out target, in the order of bench/README.md; none when no fan-out workload ran."""
    found: list[Target] = []
    for name in results.names("fanout"):
        found += _apply_targets(results, name)
    if results.names("fanout-noop"):
        found += _noop_targets(results)
    return found
