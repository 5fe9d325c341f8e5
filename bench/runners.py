"""The timed child processes (sqlmig's CLI, sqlmig in-process, the psql floor and the no-op floors), their checks,
and the untimed database chores around them.

Every timed run is a child process forked by ``launch.py`` and reaped there with ``os.wait4``, which gives its
wall time and peak RSS (``ru_maxrss``). A run that fails, or whose history does not have the expected rows
afterwards, raises :class:`BenchError`: a failed run is never timed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .server import Server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PSQL = "/usr/bin/psql" if Path("/usr/bin/psql").exists() else (shutil.which("psql") or "psql")
HISTORY = sql.Identifier("public", "migration_history")
# The children must use the URL they are given, not one from the environment; PG* variables (PGOPTIONS, …) would
# change the sessions of one runner and not of the other.
_DROPPED = ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
# Bytecode is cached, as for an installed application, but here so that nothing is written outside bench/.
PYCACHE = HERE / ".cache" / "pycache"
CONNECT_FLOOR = "import psycopg, sys; psycopg.connect(sys.argv[1]).execute('select 1')"


class BenchError(RuntimeError):
    """A run failed or left the database in an unexpected state: the benchmark stops."""


@dataclass(frozen=True)
class Sample:
    """One timed run: seconds, the child's peak RSS in KiB, and its user+sys CPU seconds with those of the
    children it waited for (None where not measured)."""

    seconds: float
    rss_kb: int | None
    cpu_seconds: float | None = None


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("PG")}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


class Runner:
    """Runs and checks the timed children of one benchmark run. ``work`` is a scratch folder: the children's
    working directory (so that no ``.env`` or ``pyproject.toml`` configures them) and where their output goes."""

    def __init__(self, server: Server, work: Path) -> None:
        self.server = server
        self.work = work
        self.admin = psycopg.connect(server.url(), autocommit=True)

    def close(self) -> None:
        """Close the admin connection."""
        self.admin.close()

    # --- untimed chores ---------------------------------------------------------------------------------------

    def fresh_database(self, name: str) -> str:
        """Create an empty database (from template0) and return its URL; a leftover of that name is dropped."""
        self.drop_database(name)
        self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return self.server.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, open connections or not."""
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def checkpoint(self) -> None:
        """Flush what earlier runs left dirty, so that their writes are not paid for by the next timed run."""
        self.admin.execute("CHECKPOINT")

    def scalar(self, url: str, query: str, params: tuple[object, ...] = ()) -> object:
        """The first column of the first row of ``query`` on the database at ``url``."""
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def create_floor_history(self, url: str) -> None:
        """The psql floor's history table, created before timing."""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.floor_history (id serial PRIMARY KEY, name text UNIQUE,"
                " executed_at timestamptz DEFAULT now())"
            )

    def check_history(self, url: str, track: str, expected: int, who: str) -> None:
        """Raise BenchError unless ``track`` has exactly ``expected`` history rows, each name once."""
        query = sql.SQL("SELECT count(*), count(DISTINCT name) FROM {} WHERE type = %s").format(HISTORY)
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(query, (track,)).fetchone()
        if row != (expected, expected):
            raise BenchError(
                f"{who}: expected {expected} {track} rows in public.migration_history, found (rows, names) = {row}"
            )

    # --- timed children ---------------------------------------------------------------------------------------

    def timed(self, cmd: list[str], who: str) -> tuple[Sample, str]:
        """Run ``cmd`` through ``launch.py``; return its wall time and peak RSS, and its stdout. Raises BenchError
        on a non-zero exit. The launcher measures from its fork to the command's exit, so its own start-up is
        not in the time (see launch.py for why the RSS cannot come from a ``wait4`` here)."""
        out_path, err_path, result = self.work / "child.out", self.work / "child.err", self.work / "child.json"
        result.unlink(missing_ok=True)
        launcher = [PYTHON, "-I", "-S", str(HERE / "launch.py"), str(result), *cmd]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(
                launcher, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.work, env=_child_env()
            )
            if proc.wait() != 0 or not result.exists():
                raise BenchError(f"launch.py failed (exit {proc.returncode}) for {who}:\n{_tail(err_path)}")
        data = json.loads(result.read_text())
        if data["exit"] != 0:
            raise BenchError(
                f"{who} failed (exit {data['exit']}): {' '.join(cmd)}\n--- stderr ---\n{_tail(err_path)}"
                f"\n--- stdout ---\n{_tail(out_path)}"
            )
        sample = Sample(float(data["seconds"]), int(data["maxrss_kb"]), float(data["cpu_seconds"]))
        return sample, out_path.read_text(errors="replace")

    def _json(self, cmd: list[str], who: str) -> tuple[Sample, dict[str, float]]:
        """Run a child that prints a JSON object as its last line; the sample's seconds are its ``seconds``."""
        sample, out = self.timed(cmd, who)
        try:
            data: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise BenchError(f"{who}: no JSON result in its output:\n{out[-2000:]}") from exc
        return Sample(float(data["seconds"]), sample.rss_kb, sample.cpu_seconds), data

    def sqlmig_cli(
        self, url: str, migrations: Path, rows: int, *, track: str = "migrate", extra: tuple[str, ...] = ()
    ) -> Sample:
        """``sqlmig <track> up`` as a whole process; afterwards ``track`` must have ``rows`` history rows."""
        cmd = [PYTHON, "-m", "sqlmig", track, "up", "--dir", str(migrations), "--database-url", url, *extra]
        sample, _ = self.timed(cmd, f"sqlmig {track} up")
        self.check_history(url, track, rows, f"sqlmig {track} up")
        return sample

    def sqlmig_inproc(self, url: str, migrations: Path, rows: int, applied: int, *, track: str = "migrate") -> Sample:
        """``import sqlmig; sqlmig.apply()`` in a process that has psycopg loaded; times the import and the call."""
        cmd = [PYTHON, str(HERE / "inproc.py"), url, str(migrations), track]
        sample, data = self._json(cmd, "sqlmig.apply()")
        if data.get("applied") != applied:
            raise BenchError(f"sqlmig.apply(): applied {data.get('applied')} migrations, expected {applied}")
        self.check_history(url, track, rows, "sqlmig.apply()")
        return sample

    def psql_floor(self, url: str, script: Path, rows: int) -> Sample:
        """One psql process running the floor script; afterwards floor_history must have ``rows`` rows."""
        cmd = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(script)]
        sample, _ = self.timed(cmd, "psql floor")
        count = self.scalar(url, "SELECT count(*) FROM public.floor_history")
        if count != rows:
            raise BenchError(f"psql floor: expected {rows} rows in public.floor_history, found {count}")
        return sample

    def copy_floor(self, url: str, seed: Path) -> Sample:
        """The least a Python process needs for a COPY seed (``copy_floor.py``): psycopg imported, the file's data
        streamed as it is in one transaction with its history row; afterwards floor_history must have that row."""
        sample, _ = self.timed([PYTHON, str(HERE / "copy_floor.py"), url, str(seed), seed.stem], "Python COPY floor")
        count = self.scalar(url, "SELECT count(*) FROM public.floor_history")
        if count != 1:
            raise BenchError(f"Python COPY floor: expected 1 row in public.floor_history, found {count}")
        return sample

    def connect_floor(self, url: str) -> Sample:
        """The CLI's no-op floor: a Python process that imports psycopg, connects and runs ``select 1``."""
        return self.timed([PYTHON, "-c", CONNECT_FLOOR, url], "psycopg connect floor")[0]

    def hash_floor(self, url: str, migrations: Path) -> Sample:
        """The in-process no-op floor: connect, read and SHA-256 every file, one ``SELECT 1``."""
        return self._json([PYTHON, str(HERE / "noop_floor.py"), url, str(migrations)], "in-process floor")[0]

    def fleet(self, url: str, migrations: Path, size: int, rows: int) -> tuple[Sample, list[str]]:
        """``size`` processes of ``worker.py`` that call ``sqlmig.apply()`` together.

        Every worker is started and has imported sqlmig before the clock starts; closing their standard input
        releases them all at once. Returns the time from the release to the moment the last ``apply()`` returned
        (an application goes on running after it, so the interpreters' exit is not part of it; peak RSS not
        measured) and one message per worker that failed. Afterwards every migration must be recorded exactly
        once.
        """
        procs: list[subprocess.Popen[bytes]] = []
        logs: list[Path] = []
        try:
            for i in range(size):
                logs.append(self.work / f"worker-{i}.err")
                with logs[-1].open("wb") as err:
                    procs.append(
                        subprocess.Popen(
                            [PYTHON, str(HERE / "worker.py"), url, str(migrations)],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=err,
                            cwd=self.work,
                            env=_child_env(),
                        )
                    )
            for proc, log in zip(procs, logs, strict=True):
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != b"ready":
                    raise BenchError(f"a worker exited before it was ready:\n{_tail(log)}")
            start = time.monotonic()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.close()
            for proc in procs:
                proc.wait()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        failures: list[str] = []
        applied = 0
        last = start
        for i, (proc, log) in enumerate(zip(procs, logs, strict=True)):
            assert proc.stdout is not None
            output = proc.stdout.read().decode(errors="replace").split()
            proc.stdout.close()
            if proc.returncode != 0 or len(output) != 2:
                failures.append(f"worker {i} exited with {proc.returncode}: {_tail(log, 5)}")
            else:
                applied += int(output[0])
                last = max(last, float(output[1]))
        seconds = last - start
        self.check_history(url, "migrate", rows, f"{size} concurrent sqlmig.apply()")
        if not failures and applied != rows:
            raise BenchError(f"{size} concurrent sqlmig.apply(): they applied {applied} migrations in all, not {rows}")
        return Sample(seconds, None), failures
