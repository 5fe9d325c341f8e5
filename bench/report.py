"""The results as markdown: one table of every runner, the slopes of the apply workloads, and the targets, each
marked met or not met."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .suites import CLI, FLEET, HASH, INPROC, PSQL, PYCOPY, Series

TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
NOT_GROWING = 1.10  # "linear": sqlmig's time may grow at most this much faster than its floor's from one N to the next
RSS_LIMIT_MB = 64.0


@dataclass(frozen=True)
class Target:
    """One goal from bench/README.md and what this run measured; ``met`` is None when it was not measured."""

    goal: str
    measured: str
    met: bool | None


def median(series: Series) -> float:
    """The median seconds of a series."""
    return statistics.median(s.seconds for s in series.samples)


def peak_rss_mb(series: Series) -> float | None:
    """The largest peak RSS of a series' runs in MB, or None where not measured."""
    values = [s.rss_kb for s in series.samples if s.rss_kb]
    return max(values) / 1024 if values else None


class Results:
    """Every series of a run, looked up by workload name and runner."""

    def __init__(self, series: Sequence[Series]) -> None:
        self.series = list(series)
        self._index = {(s.workload.name, s.runner): s for s in series}

    def get(self, workload: str, runner: str) -> Series | None:
        """The series of ``runner`` in ``workload``, if that workload ran."""
        return self._index.get((workload, runner))

    def ratio(self, series: Series) -> float | None:
        """Median over the median of the series' floor (or baseline)."""
        floor = self.get(series.workload.name, series.floor) if series.floor else None
        return median(series) / median(floor) if floor else None

    def names(self, kind: str) -> list[str]:
        """The workloads of ``kind`` that ran, smallest N (or size) first."""
        found = {s.workload for s in self.series if s.workload.kind == kind}
        return [w.name for w in sorted(found, key=lambda w: (w.n, w.size_mib, w.seed_kind))]


def results_table(results: Results) -> str:
    """The main table: one line per workload and runner."""
    lines = [
        f"| workload | runner | median s | min{DASH}max s | ratio to floor (median/median) | ms per migration "
        "| peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in results.series:
        seconds = [x.seconds for x in s.samples]
        ratio = results.ratio(s)
        per = DASH if s.workload.kind == "seed" else f"{median(s) * 1000 / s.workload.n:.3f}"
        rss = peak_rss_mb(s)
        runner = f"{s.runner} ({s.note})" if s.note else s.runner
        lines.append(
            f"| {s.workload.name} | {runner} | {median(s):.3f} | {min(seconds):.3f}{DASH}{max(seconds):.3f} | "
            f"{'(baseline)' if ratio is None else f'{ratio:.2f}{TIMES} {s.floor}'} | {per} | "
            f"{DASH if rss is None else f'{rss:.0f}'} |"
        )
    return "\n".join(lines)


def _slope(results: Results, small: str, big: str, runner: str) -> float | None:
    """Marginal ms per migration between two apply workloads, from their medians."""
    a, b = results.get(small, runner), results.get(big, runner)
    if a is None or b is None:
        return None
    return (median(b) - median(a)) * 1000 / (b.workload.n - a.workload.n)


def slope_table(results: Results) -> tuple[str, list[Target]]:
    """Marginal cost per migration of each apply runner, and the targets on sqlmig's slope minus the floor's."""
    names = results.names("apply")
    if "apply-100" not in names or "apply-1000" not in names:
        return "", [Target("slope (apply-100 → apply-1000): sqlmig minus floor ≤ 0.10 ms", "not run", None)]
    extra = "apply-10000" in names
    header = "| runner | slope 100→1000, ms/migration | minus psql floor's |"
    header += " slope 1000→10000, ms/migration | minus psql floor's |" if extra else ""
    lines = [header, "| --- |" + " ---: |" * (4 if extra else 2)]
    floor = _slope(results, "apply-100", "apply-1000", PSQL) or 0.0
    floor_big = _slope(results, "apply-1000", "apply-10000", PSQL) or 0.0
    targets: list[Target] = []
    for runner in (CLI, INPROC, PSQL):
        slope = _slope(results, "apply-100", "apply-1000", runner) or 0.0
        line = f"| {runner} | {slope:.3f} | {slope - floor:+.3f} |"
        if extra:
            big = _slope(results, "apply-1000", "apply-10000", runner) or 0.0
            line += f" {big:.3f} | {big - floor_big:+.3f} |"
        lines.append(line)
        if runner != PSQL:
            diff = slope - floor
            targets.append(
                Target(
                    f"slope (apply-100 → apply-1000): {runner} minus psql floor ≤ 0.10 ms",
                    f"{diff:+.3f} ms",
                    diff <= 0.10,
                )
            )
    return "\n".join(lines), targets


def _ratio_target(results: Results, workload: str, runner: str, limit: float, goal: str) -> Target:
    series = results.get(workload, runner)
    ratio = results.ratio(series) if series else None
    if ratio is None:
        return Target(goal, "not run", None)
    return Target(goal, f"{ratio:.2f}{TIMES}", ratio <= limit)


def _noop_targets(results: Results) -> list[Target]:
    names = results.names("noop")
    if not names:
        return [Target(f"noop: in-process ≤ 2{TIMES} its floor; CLI ≤ 1.3{TIMES} psycopg connect", "not run", None)]
    largest = names[-1]
    targets = [
        _ratio_target(results, largest, INPROC, 2.0, f"{largest}: sqlmig in-process ≤ 2{TIMES} read+hash+SELECT 1")
    ]
    ratios = [(n, results.ratio(s)) for n in names if (s := results.get(n, CLI))]
    shown = ", ".join(f"{n} {r:.2f}{TIMES}" for n, r in ratios if r is not None)
    last = ratios[-1][1] if ratios else None
    goal = f"{largest}: sqlmig CLI ≤ 1.3{TIMES} bare psycopg connect"
    targets.append(Target(goal, shown, None if last is None else last <= 1.3))
    return targets


def _concurrent_targets(results: Results) -> list[Target]:
    fleet = results.get("concurrent-32", FLEET)
    if fleet is None:
        return [Target(f"concurrent-32: 0 failures, ≤ 1.2{TIMES} a single apply", "not run", None)]
    ratio = results.ratio(fleet) or 0.0
    return [
        Target("concurrent-32: 0 failed processes", str(len(fleet.failures)), not fleet.failures),
        Target(f"concurrent-32: wall time ≤ 1.2{TIMES} a single process's apply", f"{ratio:.2f}{TIMES}", ratio <= 1.2),
    ]


def _seed_targets(results: Results) -> list[Target]:
    names = results.names("seed")
    if not names:
        return [Target(f"big-seed: ≤ 1.10{TIMES} psql, peak RSS ≤ 64 MB", "not run", None)]
    targets: list[Target] = []
    for kind in ("copy", "insert"):
        ratios = [(n, results.ratio(s)) for n in names if kind in n and (s := results.get(n, CLI))]
        goal = f"big-seed {kind.upper()}: sqlmig CLI ≤ 1.10{TIMES} psql"
        if not ratios:
            targets.append(Target(goal, "not run", None))
            continue
        shown = ", ".join(f"{n} {r:.2f}{TIMES}" for n, r in ratios if r is not None)
        targets.append(Target(goal, shown, all(r is not None and r <= 1.10 for _, r in ratios)))
    pairs = [(n, s, p) for n in names if "copy" in n and (s := results.get(n, CLI)) and (p := results.get(n, PYCOPY))]
    if pairs:  # what is sqlmig's own, once the interpreter and psycopg a Python process needs are counted
        shown = ", ".join(f"{n} {median(s) / median(p):.2f}{TIMES}" for n, s, p in pairs)
        targets.append(
            Target(
                f"big-seed COPY: sqlmig CLI ≤ 1.10{TIMES} the Python floor (python + psycopg COPY of the same file)",
                shown,
                all(median(s) / median(p) <= 1.10 for _, s, p in pairs),
            )
        )
    rss = {n: peak_rss_mb(s) or 0.0 for n in names if (s := results.get(n, CLI))}
    psql = max((peak_rss_mb(s) or 0.0 for n in names if (s := results.get(n, PSQL))), default=0.0)
    targets.append(
        Target(
            f"big-seed: sqlmig peak RSS ≤ {RSS_LIMIT_MB:.0f} MB",
            f"max {max(rss.values()):.0f} MB (psql: {psql:.0f} MB)",
            max(rss.values()) <= RSS_LIMIT_MB,
        )
    )
    for kind in ("copy", "insert"):
        small, big = f"big-seed-{kind}-50MB", f"big-seed-{kind}-200MB"
        goal = f"big-seed {kind.upper()}: sqlmig peak RSS not growing from 50 to 200 MB (≤ +10%)"
        if small in rss and big in rss:
            targets.append(Target(goal, f"{rss[small]:.0f} → {rss[big]:.0f} MB", rss[big] <= rss[small] * 1.10))
        else:
            targets.append(Target(goal, "needs the 50 and 200 MB seeds (full run)", None))
    return targets


def _linear_targets(results: Results) -> list[Target]:
    """From one N to the next, sqlmig's time may grow by at most NOT_GROWING times its floor's growth.

    The floors grow linearly with N (psql runs every file; the in-process no-op floor reads and hashes every
    file), and so do the server's own costs, which both sides pay: comparing growth with the floor's leaves what
    sqlmig adds. ms per migration alone would blame sqlmig for the server getting slower as its catalog grows.
    """
    targets: list[Target] = []
    for kind, reference in (("apply", PSQL), ("noop", HASH)):
        names = results.names(kind)
        for runner in (CLI, INPROC):
            goal = (
                f"linear growth, {kind}, {runner}: ms per migration at each N; its growth from one N to the next "
                f"≤ {NOT_GROWING:.2f}{TIMES} the growth of {reference}"
            )
            pairs = [(s, f) for n in names if (s := results.get(n, runner)) and (f := results.get(n, reference))]
            if len(pairs) < 2:
                targets.append(Target(goal, "needs two N", None))
                continue
            per = ", ".join(f"N={s.workload.n} {median(s) * 1000 / s.workload.n:.3f}" for s, _ in pairs)
            floor = ", ".join(f"{median(f) * 1000 / f.workload.n:.3f}" for _, f in pairs)
            growth = [
                (median(s2) / median(s1)) / (median(f2) / median(f1))
                for (s1, f1), (s2, f2) in itertools.pairwise(pairs)
            ]
            shown = f"{per} ms (floor {floor}); growth / floor's growth: {', '.join(f'{g:.2f}' for g in growth)}"
            targets.append(Target(goal, shown, all(g <= NOT_GROWING for g in growth)))
    return targets


def targets(results: Results) -> tuple[str, list[Target]]:
    """The slope table and every target, in the order of bench/README.md."""
    slopes, slope_targets = slope_table(results)
    found = [
        _ratio_target(results, "apply-1000", CLI, 1.10, f"apply-1000: sqlmig CLI ≤ 1.10{TIMES} psql floor"),
        _ratio_target(results, "apply-1000", INPROC, 1.00, f"apply-1000: sqlmig in-process ≤ 1.00{TIMES} psql floor"),
        *slope_targets,
        *_noop_targets(results),
        *_concurrent_targets(results),
        *_seed_targets(results),
        *_linear_targets(results),
    ]
    return slopes, found


def targets_table(found: Sequence[Target]) -> str:
    """The targets as a markdown table with a met / NOT met / n/a column."""
    lines = ["| target | measured | result |", "| --- | --- | --- |"]
    for t in found:
        result = "n/a" if t.met is None else ("met" if t.met else "**NOT met**")
        lines.append(f"| {t.goal} | {t.measured} | {result} |")
    return "\n".join(lines)


def document(series: Sequence[Series], header: Sequence[str]) -> str:
    """The whole markdown report (without the total time, which the caller appends)."""
    from . import fanout_report, lint  # they build on this module

    results = Results(series)
    slopes, found = targets(results)
    found += fanout_report.targets(results)
    found += lint.targets(results)
    parts = ["# sqlmig benchmark", "", *header, "", results_table(results), ""]
    if slopes:
        parts += ["Slopes (marginal cost per migration, from the medians):", "", slopes, ""]
    cpu = fanout_report.cpu_table(results)
    if cpu:
        parts += [
            "Client CPU (user+sys of the process and of the children it waited for), from the medians:",
            "",
            cpu,
            "",
        ]
    failures = [f for s in series for f in s.failures]
    if failures:
        parts += ["Failed processes:", "", *(f"- {f}" for f in failures), ""]
    parts += ["Targets:", "", targets_table(found), ""]
    return "\n".join(parts)
