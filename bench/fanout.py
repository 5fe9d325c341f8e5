"""The fan-out workloads: many tenant schemas of one database brought up to date by one ``sqlmig migrate up
--schemas-from … --jobs 8`` process, against ``xargs -P 8`` psql processes (one per schema) and against a loop of
ordinary ``sqlmig migrate up --schema …`` processes; and the same fan-out when every schema is up to date.

Set-up is untimed, as in :mod:`bench.suites`; a run that fails, or leaves other history rows than expected,
raises :class:`~bench.runners.BenchError`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
from psycopg import sql

from . import fanout_files
from .runners import PSQL, PYTHON, BenchError, Sample
from .suites import CONNECT, Series, Suite, Workload
from .workloads import up_files

FANOUT = "sqlmig fan-out CLI, --jobs 8"
XARGS = "psql floor, xargs -P 8"
LOOP = "loop of sqlmig CLI, one process per schema"
JOBS = 8
# The loop takes about 0.7 s per schema: it runs on a fifth of the schemas, at most this many, and is scaled.
LOOP_SCHEMAS = 50
XARGS_BIN = shutil.which("xargs") or "/usr/bin/xargs"
TARGETS_HISTORY = sql.Identifier("public", "migration_history_targets")
SUMMARY = re.compile(r"on (\d+) target\(s\): (\d+) applied, (\d+) current, (\d+) failed, (\d+) skipped")
# Each ordinary run keeps its own history (one table per schema), as it must without fan-out: with one shared
# history table the second schema would find every migration applied already.
TIMES = "\N{MULTIPLICATION SIGN}"
LOOP_SCRIPT = (
    'py=$1 dir=$2 url=$3; shift 3; for s do "$py" -m sqlmig migrate up --dir "$dir" --database-url "$url"'
    ' --schema "$s" --history-table "public.history_$s" || exit 1; done'
)


def per_target(workload: Workload) -> int:
    """The number of migrations each target of ``workload`` runs."""
    return workload.n // workload.targets


def loop_schemas(workload: Workload) -> int:
    """How many schemas the loop runs: a fifth of them (at least one), at most :data:`LOOP_SCHEMAS`."""
    return min(max(1, workload.targets // 5), LOOP_SCHEMAS)


class Fanout:
    """Measures the fan-out workloads with the runner and the helpers of ``suite``."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.runner = suite.runner

    def run(self, workload: Workload) -> list[Series]:
        """Measure ``fanout-NxM`` (kind ``fanout``) or ``fanout-noop-N`` (kind ``fanout-noop``)."""
        return self._apply(workload) if workload.kind == "fanout" else self._noop(workload)

    # --- timed children -------------------------------------------------------------------------------------

    def cli(self, url: str, migrations: Path, workload: Workload, *, applied: bool) -> Sample:
        """One ``sqlmig migrate up --schemas-from … --jobs 8`` process over every target of ``workload``. Its
        summary must count every target applied (``applied``) or every one current, and the targets' history
        must then hold each migration of each target once."""
        query = fanout_files.schemas_query(workload.targets)
        cmd = [PYTHON, "-m", "sqlmig", "migrate", "up", "--dir", str(migrations), "--database-url", url]
        cmd += ["--schemas-from", query, "--jobs", str(JOBS)]
        sample, out = self.runner.timed(cmd, "sqlmig fan-out")
        found = SUMMARY.search(out)
        counts = tuple(int(x) for x in found.groups()) if found else None
        n = workload.targets
        expected = (n, n, 0, 0, 0) if applied else (n, 0, n, 0, 0)
        if counts != expected:
            raise BenchError(
                f"sqlmig fan-out: expected (targets, applied, current, failed, skipped) = {expected}, "
                f"found {counts} in its output:\n{out[-2000:]}"
            )
        self.check(url, workload.n, n, "sqlmig fan-out")
        return sample

    def xargs_floor(self, url: str, scripts: Path, workload: Workload) -> Sample:
        """``xargs -P 8`` running one psql per schema's script; its CPU time includes every psql's. Afterwards the
        floor's history must hold each migration of each target once."""
        cmd = [XARGS_BIN, "-a", str(scripts), "-P", str(JOBS), "-n", "1", PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        sample, _ = self.runner.timed([*cmd, "-d", url, "-f"], "xargs psql floor")
        query = f"SELECT count(*), count(DISTINCT (target, name)) FROM {fanout_files.FLOOR_HISTORY}"
        row = self.runner.scalar(url, f"SELECT ARRAY[c, d] FROM ({query}) AS q(c, d)")
        if row != [workload.n, workload.n]:
            raise BenchError(f"xargs psql floor: expected {workload.n} rows in the floor's history, found {row}")
        return sample

    def loop(self, url: str, migrations: Path, schemas: list[str]) -> Sample:
        """One shell running an ordinary ``sqlmig migrate up --schema S`` process per schema, one after another.
        Afterwards each schema's history table must hold every migration."""
        cmd = ["/bin/sh", "-c", LOOP_SCRIPT, "sh", PYTHON, str(migrations), url, *schemas]
        sample, _ = self.runner.timed(cmd, "loop of sqlmig migrate up --schema")
        expected = len(up_files(migrations))
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in schemas:
                table = sql.Identifier("public", f"history_{schema}")
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
                if row != (expected,):
                    raise BenchError(f"loop: expected {expected} rows in {table.as_string(conn)}, found {row}")
        return sample

    # --- untimed chores -------------------------------------------------------------------------------------

    def check(self, url: str, rows: int, targets: int, who: str) -> None:
        """Raise BenchError unless the targets' history has ``rows`` rows, each (target, name) once, over
        ``targets`` targets."""
        query = sql.SQL("SELECT count(*), count(DISTINCT (target, name)), count(DISTINCT target) FROM {}")
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(query.format(TARGETS_HISTORY)).fetchone()
        if row != (rows, rows, targets):
            raise BenchError(f"{who}: expected (rows, distinct rows, targets) = {(rows, rows, targets)}, found {row}")

    def create_floor_history(self, url: str) -> None:
        """The xargs floor's history table (the fan-out's columns that matter: target and name), created before
        timing."""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {fanout_files.FLOOR_HISTORY} (id serial PRIMARY KEY, target text NOT NULL,"
                " name text NOT NULL, executed_at timestamptz DEFAULT now(), UNIQUE (target, name))"
            )

    def up_to_date(self, url: str, migrations: Path, workload: Workload) -> None:
        """Make every target of ``workload`` up to date without running its migrations ``targets`` times: the
        fan-out CLI applies them to the first target, then its history rows are copied to every other target.
        Only the rendered checksum then differs from what a real run writes (it is the first target's), and a
        no-op run does not read it; the other schemas are not created, and a no-op run does not touch them."""
        first, *others = fanout_files.schemas(workload.targets)
        cmd = [PYTHON, "-m", "sqlmig", "migrate", "up", "--dir", str(migrations), "--database-url", url]
        self.runner.timed([*cmd, "--schemas", first], "sqlmig fan-out (set-up)")
        with psycopg.connect(url, autocommit=True) as conn:
            names = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = 'migration_history_targets' AND column_name NOT IN ('id', 'target')"
                " ORDER BY ordinal_position"
            ).fetchall()
            columns = [str(n[0]) for n in names]
            insert = sql.SQL(
                "INSERT INTO {0} (target, {1}) SELECT s.name, {2} FROM {0} AS h, unnest(%s::text[]) AS s(name)"
                " WHERE h.target = %s ORDER BY s.name, h.id"
            ).format(
                TARGETS_HISTORY,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Identifier("h", c) for c in columns),
            )
            conn.execute(insert, (others, first))
            conn.execute(sql.SQL("ANALYZE {}").format(TARGETS_HISTORY))
        self.check(url, workload.n, workload.targets, "set-up of the up-to-date targets")

    # --- workloads ------------------------------------------------------------------------------------------

    def _apply(self, w: Workload) -> list[Series]:
        migrations = fanout_files.tree(per_target(w))
        folder = fanout_files.floor_scripts(w.targets, per_target(w))
        scripts = fanout_files.floor_list(folder, self.runner.work / f"{w.name}.list")

        def cli(rep: int) -> Sample:
            name, url = self.suite.fresh(w, "cli", rep)
            self.runner.checkpoint()
            sample = self.cli(url, migrations, w, applied=True)
            self.runner.drop_database(name)
            return sample

        def floor(rep: int) -> Sample:
            name, url = self.suite.fresh(w, "floor", rep)
            self.create_floor_history(url)
            self.runner.checkpoint()
            sample = self.xargs_floor(url, scripts, w)
            self.runner.drop_database(name)
            return sample

        series = self.suite.alternate(w, [(Series(w, FANOUT, XARGS), cli), (Series(w, XARGS), floor)])
        return [*series, self._loop(w, migrations)]

    def _loop(self, w: Workload, migrations: Path) -> Series:
        """The loop, once per run (it is slow), on :func:`loop_schemas` of the schemas, with its time and CPU
        scaled to all of them."""
        count = loop_schemas(w)
        scale = w.targets / count
        note = "run once" if count == w.targets else f"{count} of {w.targets} schemas run once, scaled {TIMES}{scale:g}"
        series = Series(w, LOOP, XARGS, note=note)
        name, url = self.suite.fresh(w, "loop", 0)
        self.runner.checkpoint()
        sample = self.loop(url, migrations, fanout_files.schemas(count))
        self.runner.drop_database(name)
        cpu = None if sample.cpu_seconds is None else sample.cpu_seconds * scale
        series.samples.append(Sample(sample.seconds * scale, sample.rss_kb, cpu))
        self.suite.progress(f"{w.name} {LOOP} ({note}): {sample.seconds:.3f} s for {count} schemas")
        return series

    def _noop(self, w: Workload) -> list[Series]:
        migrations = fanout_files.tree(per_target(w))
        name, url = self.suite.fresh(w, "uptodate", 0)
        self.up_to_date(url, migrations, w)
        self.runner.checkpoint()
        runs = [
            (Series(w, FANOUT, CONNECT), lambda _: self.cli(url, migrations, w, applied=False)),
            (Series(w, CONNECT), lambda _: self.runner.connect_floor(url)),
        ]
        series = self.suite.alternate(w, runs)
        self.runner.drop_database(name)
        return series
