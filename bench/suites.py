"""What each workload measures: its runners, their untimed set-up, and the alternating repetitions.

Runners of one workload take turns: repetition 1 runs them in order, repetition 2 in reverse, and so on, so that
drift in the machine's speed during a workload does not favour one of them. Unless a workload says otherwise,
every timed run gets a fresh database (``CREATE DATABASE … TEMPLATE template0``), dropped afterwards; a
``CHECKPOINT`` before each timed run keeps earlier runs' writes out of its time. Set-up is never timed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import workloads
from .runners import PYTHON, Runner, Sample

CLI = "sqlmig CLI"
INPROC = "sqlmig in-process"
PSQL = "psql floor"
CONNECT = "psycopg connect (CLI floor)"
HASH = "read+hash+SELECT 1 (in-process floor)"
PYCOPY = "python + psycopg COPY (Python floor)"
FLEET = "sqlmig.apply(), 32 processes"
SINGLE = "sqlmig.apply(), 1 process"
FLEET_SIZE = 32
WARMUP_N = 10
RENDER_ARGS = ("--schema", workloads.SCHEMA, "--var", f"label={workloads.LABEL}")


@dataclass(frozen=True)
class Workload:
    """One row group of the results: ``kind`` is apply, noop, concurrent, seed, render, lint, fanout or fanout-noop;
    ``n`` the number of migrations per run (over every target of a fan-out); ``size_mib`` and ``seed_kind``
    (``insert`` or ``copy``) describe a seed, ``targets`` the number of schemas of a fan-out."""

    name: str
    kind: str
    n: int
    reps: int
    size_mib: int = 0
    seed_kind: str = ""
    targets: int = 0


@dataclass
class Series:
    """The samples of one runner in one workload. ``floor`` names the runner its ratio is taken against;
    ``failures`` holds what failed in the concurrent workload (which is reported, not fatal); ``note`` says how
    the samples were taken when it is not the usual way (shown beside the runner)."""

    workload: Workload
    runner: str
    floor: str | None = None
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    note: str = ""


Run = Callable[[int], Sample]


class Suite:
    """Runs workloads against one server. ``progress`` receives a line per timed run."""

    def __init__(self, runner: Runner, progress: Callable[[str], None]) -> None:
        self.runner = runner
        self.progress = progress
        # migrations folder -> a database the sqlmig CLI applied it to, kept for the no-op workload of the same N.
        self.applied: dict[Path, str] = {}

    def run(self, workload: Workload) -> list[Series]:
        """Measure one workload; raises BenchError when a run fails."""
        if workload.kind.startswith("fanout"):
            from .fanout import Fanout  # it builds on this module

            return Fanout(self).run(workload)
        if workload.kind == "lint":
            from . import lint  # it builds on this module

            return lint.run(self, workload)
        measure = {
            "apply": self._apply,
            "noop": self._noop,
            "concurrent": self._concurrent,
            "seed": self._seed,
            "render": self._render,
        }[workload.kind]
        return measure(workload)

    def warm_up(self) -> None:
        """Run the CLI (also as a fan-out), the in-process runner and psql once, untimed, over a tiny tree."""
        migrations = workloads.warmup_tree()
        url = self.runner.fresh_database("warmup")
        self.runner.sqlmig_cli(url, migrations, 1, extra=RENDER_ARGS)
        self.runner.sqlmig_cli(url, migrations, 1, track="seed")
        fanout = [PYTHON, "-m", "sqlmig", "migrate", "up", "--dir", str(migrations), "--database-url", url]
        self.runner.timed([*fanout, "--schemas", "warmup_a,warmup_b", *RENDER_ARGS[2:]], "sqlmig fan-out (warm-up)")
        self.runner.connect_floor(url)
        self.runner.hash_floor(url, migrations)
        self.runner.drop_database("warmup")
        small = workloads.apply_tree(WARMUP_N)
        url = self.runner.fresh_database("warmup")
        self.runner.sqlmig_inproc(url, small, WARMUP_N, WARMUP_N)
        url = self.runner.fresh_database("warmup")
        self.runner.create_floor_history(url)
        self.runner.psql_floor(url, self._script(small, "migrate", "warmup"), WARMUP_N)
        self.runner.drop_database("warmup")

    # --- helpers ----------------------------------------------------------------------------------------------

    def alternate(self, workload: Workload, runs: list[tuple[Series, Run]]) -> list[Series]:
        for rep in range(workload.reps):
            for series, run in runs if rep % 2 == 0 else runs[::-1]:
                sample = run(rep)
                series.samples.append(sample)
                rss = f", peak RSS {sample.rss_kb / 1024:.0f} MB" if sample.rss_kb else ""
                self.progress(
                    f"{workload.name} rep {rep + 1}/{workload.reps} {series.runner}: {sample.seconds:.3f} s{rss}"
                )
        return [series for series, _ in runs]

    def _script(self, migrations: Path, track: str, name: str) -> Path:
        return workloads.floor_script(workloads.up_files(migrations, track), self.runner.work / f"{name}.sql")

    def fresh(self, workload: Workload, runner: str, rep: int) -> tuple[str, str]:
        """A fresh database for one run: its name and URL."""
        name = re.sub(r"[^a-z0-9]+", "_", f"{workload.name}_{runner}_{rep}".lower()).strip("_")[:60]
        return name, self.runner.fresh_database(name)

    def _timed_cli(
        self, url: str, migrations: Path, rows: int, *, track: str = "migrate", extra: tuple[str, ...] = ()
    ) -> Sample:
        self.runner.checkpoint()
        return self.runner.sqlmig_cli(url, migrations, rows, track=track, extra=extra)

    def _floor_run(self, w: Workload, script: Path) -> Run:
        """One run of the psql floor over ``script`` on a fresh database with the floor's history table."""

        def floor(rep: int) -> Sample:
            name, url = self.fresh(w, "floor", rep)
            self.runner.create_floor_history(url)
            self.runner.checkpoint()
            sample = self.runner.psql_floor(url, script, w.n)
            self.runner.drop_database(name)
            return sample

        return floor

    # --- workloads --------------------------------------------------------------------------------------------

    def _apply(self, w: Workload) -> list[Series]:
        migrations = workloads.apply_tree(w.n)
        script = self._script(migrations, "migrate", w.name)

        def cli(rep: int) -> Sample:
            name, url = self.fresh(w, "cli", rep)
            sample = self._timed_cli(url, migrations, w.n)
            if rep == w.reps - 1:  # the no-op workload of this N runs on it: applying N again would be wasted
                previous = self.applied.get(migrations)
                if previous:
                    self.runner.drop_database(previous)
                self.applied[migrations] = name
            else:
                self.runner.drop_database(name)
            return sample

        def inproc(rep: int) -> Sample:
            name, url = self.fresh(w, "inproc", rep)
            self.runner.checkpoint()
            sample = self.runner.sqlmig_inproc(url, migrations, w.n, w.n)
            self.runner.drop_database(name)
            return sample

        floor = self._floor_run(w, script)

        return self.alternate(
            w, [(Series(w, CLI, PSQL), cli), (Series(w, INPROC, PSQL), inproc), (Series(w, PSQL), floor)]
        )

    def _noop(self, w: Workload) -> list[Series]:
        migrations = workloads.apply_tree(w.n)
        name = self.applied.get(migrations)
        if name is None:
            name, url = self.fresh(w, "applied", 0)
            self.runner.sqlmig_cli(url, migrations, w.n)
            self.applied[migrations] = name
        url = self.runner.server.url(name)
        self.runner.checkpoint()
        runs: list[tuple[Series, Run]] = [
            (Series(w, CLI, CONNECT), lambda _: self.runner.sqlmig_cli(url, migrations, w.n)),
            (Series(w, CONNECT), lambda _: self.runner.connect_floor(url)),
            (Series(w, INPROC, HASH), lambda _: self.runner.sqlmig_inproc(url, migrations, w.n, 0)),
            (Series(w, HASH), lambda _: self.runner.hash_floor(url, migrations)),
        ]
        series = self.alternate(w, runs)
        self.runner.drop_database(self.applied.pop(migrations))
        return series

    def _concurrent(self, w: Workload) -> list[Series]:
        migrations = workloads.apply_tree(w.n)
        fleet, single = Series(w, FLEET, SINGLE), Series(w, SINGLE)

        def run(series: Series, size: int) -> Run:
            def one(rep: int) -> Sample:
                name, url = self.fresh(w, str(size), rep)
                self.runner.checkpoint()
                sample, failures = self.runner.fleet(url, migrations, size, w.n)
                series.failures += failures
                for failure in failures:
                    self.progress(f"{w.name} rep {rep + 1}: FAILED {failure}")
                self.runner.drop_database(name)
                return sample

            return one

        return self.alternate(w, [(fleet, run(fleet, FLEET_SIZE)), (single, run(single, 1))])

    def _seed(self, w: Workload) -> list[Series]:
        migrations = workloads.seed_tree(w.seed_kind, w.size_mib)
        script = self._script(migrations, "seed", w.name)

        def schema(runner: str, rep: int) -> tuple[str, str]:
            """A fresh database with migrate/ applied (by the sqlmig CLI, untimed) for either runner."""
            name, url = self.fresh(w, runner, rep)
            self.runner.sqlmig_cli(url, migrations, 1)
            return name, url

        def cli(rep: int) -> Sample:
            name, url = schema("cli", rep)
            sample = self._timed_cli(url, migrations, 1, track="seed")
            self.runner.drop_database(name)
            return sample

        def floor(rep: int) -> Sample:
            name, url = schema("floor", rep)
            self.runner.create_floor_history(url)
            self.runner.checkpoint()
            sample = self.runner.psql_floor(url, script, 1)
            self.runner.drop_database(name)
            return sample

        runs: list[tuple[Series, Run]] = [(Series(w, CLI, PSQL), cli), (Series(w, PSQL), floor)]
        if w.seed_kind == "copy":

            def python(rep: int) -> Sample:
                name, url = schema("python", rep)
                self.runner.create_floor_history(url)
                self.runner.checkpoint()
                seed = workloads.up_files(migrations, "seed")[0]
                sample = self.runner.copy_floor(url, seed)
                self.runner.drop_database(name)
                return sample

            runs.append((Series(w, PYCOPY, PSQL), python))
        return self.alternate(w, runs)

    def _render(self, w: Workload) -> list[Series]:
        templated, rendered = workloads.render_trees(w.n)
        script = self._script(rendered, "migrate", w.name)

        def cli(rep: int) -> Sample:
            name, url = self.fresh(w, "cli", rep)
            sample = self._timed_cli(url, templated, w.n, extra=RENDER_ARGS)
            self.runner.drop_database(name)
            return sample

        floor = self._floor_run(w, script)

        return self.alternate(w, [(Series(w, CLI, PSQL), cli), (Series(w, PSQL), floor)])
