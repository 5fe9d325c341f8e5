"""Runner processes of the fault tests, waiting for what they do, and crashing the server under them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..pgcluster import START_TIMEOUT, PgServer

T = TypeVar("T")

WORKER = Path(__file__).with_name("worker.py")
POLL = 0.02
WAITING_LOG = "waiting for the migration lock"


@dataclass
class Runner:
    """A runner process, its stdout and stderr kept in files so that a test can read them while it runs."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def finish(self, timeout: float) -> int:
        """Wait for the process to exit; return its exit status."""
        return self.proc.wait(timeout=timeout)

    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def outcome(self) -> dict[str, Any]:
        """The worker's JSON document (see worker.py)."""
        lines = self.out().strip().splitlines()
        assert lines, f"{self.name} printed no report\n{self.describe()}"
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def describe(self) -> str:
        return f"--- {self.name}: exit {self.proc.poll()}\nstdout:\n{self.out()}\nstderr:\n{self.log()}"


class Launcher:
    """Starts runners, and stops by pid whichever are still running when the test ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started: list[Runner] = []

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Runner:
        stdout, stderr = self.folder / f"{name}.out", self.folder / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                list(args), stdout=out, stderr=err, cwd=self.folder, env={**os.environ, **(env or {})}
            )
        runner = Runner(name, proc, stdout, stderr)
        self.started.append(runner)
        return runner

    def stop_all(self) -> None:
        for runner in self.started:
            if runner.proc.poll() is None:
                runner.proc.kill()
                runner.proc.wait(timeout=10)


def worker(url: str, directory: Path, barrier: Path | None = None) -> list[str]:
    """The command of a process that calls ``sqlmig.apply(url, directory)`` and prints the outcome as JSON."""
    return [sys.executable, str(WORKER), url, str(directory), *([str(barrier)] if barrier else [])]


def cli_up(directory: Path, *options: str) -> list[str]:
    """``python -m sqlmig migrate up --dir DIRECTORY``; the URL comes from ``SQLMIG_DATABASE_URL``."""
    return [sys.executable, "-m", "sqlmig", "migrate", "up", "--dir", str(directory), *options]


# Run by ``python -c``: load sqlmig's command line and what a fan-out runs, wait at the barrier (worker.py's), then
# run the command line with the remaining arguments. Arguments: worker.py's folder, the barrier, the command line's.
_CLI_AT_BARRIER = """\
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from worker import wait_at_barrier
import sqlmig.fanout.runner
from sqlmig.cli.commands import main
wait_at_barrier(Path(sys.argv[2]))
main(sys.argv[3:], prog_name="sqlmig")
"""


def cli_up_at_barrier(barrier: Path, directory: Path, *options: str) -> list[str]:
    """:func:`cli_up` in a process that waits at ``barrier`` before it runs, so that several command lines start
    together (see :func:`release_together`)."""
    at_barrier = [sys.executable, "-c", _CLI_AT_BARRIER, str(WORKER.parent), str(barrier)]
    return [*at_barrier, "migrate", "up", "--dir", str(directory), *options]


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str, runners: Sequence[Runner] = ()) -> T:
    """Poll ``probe`` until it returns something true, and return that. Fail after ``timeout`` seconds, or as
    soon as one of ``runners`` has exited, since what is awaited then will not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        ended = [r for r in runners if r.proc.poll() is not None]
        if ended:
            raise AssertionError(
                f"gave up waiting for {what}: a runner ended\n" + "\n".join(r.describe() for r in ended)
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"gave up waiting for {what} after {timeout}s\n" + "\n".join(r.describe() for r in runners)
            )
        time.sleep(POLL)


def restart_immediately(server: PgServer) -> None:
    """``pg_ctl restart -m immediate``: every backend is killed without a checkpoint, and the server recovers
    from its WAL on start, as after a crash. Waits until it accepts connections again."""
    assert server.pg_ctl is not None and server.datadir is not None and server.logfile is not None
    # server.pg_ctl is the wrapper that runs pg_ctl as the cluster's owner when the tests run as root. Restart
    # reuses the options of the last start (postmaster.opts); -l keeps the server off pg_ctl's stdout.
    subprocess.run(
        [
            str(server.pg_ctl),
            "restart",
            "-m",
            "immediate",
            "-D",
            str(server.datadir),
            "-l",
            str(server.logfile),
            "-w",
            "-t",
            str(START_TIMEOUT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def release_together(barrier: Path, runners: Sequence[Runner]) -> None:
    """Wait until every runner started with ``barrier`` is ready (has imported what it needs), then let them all
    go at the same moment (see worker.py)."""
    wait_until(
        lambda: len(list(barrier.glob("ready-*"))) == len(runners),
        timeout=60,
        what=f"{len(runners)} processes to be ready",
        runners=runners,
    )
    (barrier / "go").touch()
