"""The lint workload: the whole ``sqlmig lint`` command over a 70-file project (bench/lint_files.py), with the
cache cold (removed before each run), warm (filled by an untimed run first) and off (``--no-cache``), against
two floors: ``python -c "import pglast"`` (the interpreter and the parser's import, which a cold run cannot
avoid) and ``sqlmig --version`` (the interpreter and the command line's start-up, which every run pays). No
server: the runs only read files.
"""

from __future__ import annotations

import shutil

from .lint_files import lint_tree
from .report import TIMES, Results, Target, median
from .runners import PYTHON, Sample
from .suites import Run, Series, Suite, Workload

COLD = "sqlmig lint, cold cache"
WARM = "sqlmig lint, warm cache"
NO_CACHE = "sqlmig lint --no-cache"
PGLAST = 'python -c "import pglast" (floor)'
STARTUP = "sqlmig --version (start-up floor)"
LIMIT_S = 0.2


def run(suite: Suite, w: Workload) -> list[Series]:
    """Measure the lint workload ``w``; the children run in the runner's scratch folder, where the cache goes."""
    project = lint_tree()
    cache = suite.runner.work / ".sqlmig"
    command = [PYTHON, "-m", "sqlmig", "lint", "--dir", str(project / "migrations"), "--rules", "safety,conventions"]

    def timed(cmd: list[str], who: str) -> Run:
        return lambda _: suite.runner.timed(cmd, who)[0]

    def cold(_: int) -> Sample:
        shutil.rmtree(cache, ignore_errors=True)
        return suite.runner.timed(command, COLD)[0]

    def warm(_: int) -> Sample:
        suite.runner.timed(command, "sqlmig lint (filling the cache)")
        return suite.runner.timed(command, WARM)[0]

    runs: list[tuple[Series, Run]] = [
        (Series(w, COLD, PGLAST), cold),
        (Series(w, WARM, STARTUP), warm),
        (Series(w, NO_CACHE, PGLAST), timed([*command, "--no-cache"], NO_CACHE)),
        (Series(w, PGLAST), timed([PYTHON, "-c", "import pglast"], PGLAST)),
        (Series(w, STARTUP), timed([PYTHON, "-m", "sqlmig", "--version"], STARTUP)),
    ]
    series = suite.alternate(w, runs)
    shutil.rmtree(cache, ignore_errors=True)
    return series


def targets(results: Results) -> list[Target]:
    """Lint 70 files in at most 0.2 s: the whole command, with the cache warm and cold."""
    found = []
    for name in results.names("lint"):
        for runner in (WARM, COLD):
            series = results.get(name, runner)
            if series is None:
                continue
            seconds = median(series)
            ratio = results.ratio(series)
            measured = f"{seconds:.3f} s" + (f" ({ratio:.2f}{TIMES} {series.floor})" if ratio else "")
            found.append(Target(f"{name}: {runner} ≤ {LIMIT_S} s", measured, seconds <= LIMIT_S))
    return found
