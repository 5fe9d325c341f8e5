"""PgBouncer for the tests: a throwaway pooler in front of a test server, in transaction or session mode.

PgBouncer comes from Debian's ``pgbouncer`` package (``.ci/run`` installs it). Without it the pooler tests are
skipped, except on CI (``CI=true``), where they must run and fail instead. Like the servers, PgBouncer refuses to
run as root; it then runs as the OS user owning the test clusters.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn
from urllib.parse import quote

import psycopg
import pytest

from .pgcluster import HOST, PgServer, cluster_owner, running_as_root

PoolMode = Literal["transaction", "session", "statement"]
PREFIX = "sqlmig-pgbouncer-"
# The pid of the test run that owns a pgbouncer directory, and that of its pgbouncer, for sweep_orphans().
RUN_MARKER = "run.pid"
PID_FILE = "pgbouncer.pid"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# Small pools, so that transaction mode visibly hands one server connection to several clients.
POOL_SIZE = 3

CONFIG = """\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = {host}
listen_port = {port}
unix_socket_dir =
pool_mode = {pool_mode}
auth_type = trust
auth_file = {directory}/users.txt
default_pool_size = {pool_size}
max_client_conn = 100
ignore_startup_parameters = extra_float_digits,options
logfile = {directory}/pgbouncer.log
pidfile =
"""


@dataclass(frozen=True)
class Bouncer:
    """A running PgBouncer: its pid, where it listens, its pool mode and log file."""

    pid: int
    host: str
    port: int
    pool_mode: PoolMode
    user: str
    logfile: Path

    def url(self, dbname: str, *, password: str | None = None) -> str:
        """A URL to ``dbname`` through the pooler; ``password`` is sent but ignored (``auth_type = trust``)."""
        secret = f":{quote(password, safe='')}" if password else ""
        return f"postgresql://{quote(self.user, safe='')}{secret}@{self.host}:{self.port}/{quote(dbname, safe='')}"


def find_pgbouncer() -> str | None:
    """The pgbouncer executable: on PATH, or where Debian installs it (``/usr/sbin``, often not on PATH)."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the pooler tests")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(logfile: Path, lines: int = 20) -> str:
    try:
        return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no pgbouncer log)"


def _wait_ready(proc: subprocess.Popen[bytes], url: str, logfile: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}:\n{_log_tail(logfile)}")
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer does not accept connections: {exc}\n{_log_tail(logfile)}") from exc
            time.sleep(0.05)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (PgBouncer closes its connections and exits), then SIGKILL if it does not."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def sweep_orphans() -> None:
    """Stop the pgbouncers of test runs that were killed before their teardown, and delete their files."""
    for marker in Path(tempfile.gettempdir()).glob(f"{PREFIX}*/{RUN_MARKER}"):
        try:
            if _alive(int(marker.read_text())):
                continue
        except (OSError, ValueError):
            continue  # being written by a run that is starting
        directory = marker.parent
        with suppress(OSError, ValueError):
            pid = int((directory / PID_FILE).read_text())
            # The pid may since belong to an unrelated process: signal it only if it runs this directory's ini.
            if str(directory) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _start(
    executable: str, server: PgServer, pool_mode: PoolMode, directory: Path, owner: pwd.struct_passwd | None
) -> tuple[subprocess.Popen[bytes], Bouncer]:
    """Start PgBouncer on a free port; another process may take the port first, so try a few times."""
    logfile = directory / "pgbouncer.log"
    failures = []
    for _ in range(3):
        port = _free_port()
        ini = directory / "pgbouncer.ini"
        settings = {"host": HOST, "port": port, "pool_mode": pool_mode, "directory": directory}
        ini.write_text(CONFIG.format(server_host=server.host, server_port=server.port, pool_size=POOL_SIZE, **settings))
        proc = subprocess.Popen(
            [executable, str(ini)],
            cwd="/",  # readable by the OS user pgbouncer runs as
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            extra_groups=[] if owner else None,
        )
        (directory / PID_FILE).write_text(str(proc.pid))
        bouncer = Bouncer(proc.pid, HOST, port, pool_mode, server.user, logfile)
        try:
            _wait_ready(proc, bouncer.url(server.dbname), logfile)
        except RuntimeError as exc:
            _terminate(proc)
            failures.append(f"port {port}: {exc}")
            continue
        return proc, bouncer
    raise RuntimeError("could not start pgbouncer:\n" + "\n\n".join(failures))


@contextmanager
def pgbouncer(server: PgServer, pool_mode: PoolMode) -> Iterator[Bouncer]:
    """Start PgBouncer in ``pool_mode`` in front of ``server`` on a free port; stop it (by pid) on exit.

    Every database of the server is reachable through it (the ``*`` entry), so per-test databases work.
    """
    executable = find_pgbouncer()
    if executable is None:
        _missing("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    owner = cluster_owner() if running_as_root() else None
    if running_as_root() and owner is None:
        _missing("running as root and no OS user exists to run pgbouncer as (it refuses root)")
    sweep_orphans()
    # Not pytest's tmp_path: that is private to the current user, and pgbouncer may run as another.
    directory = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        (directory / RUN_MARKER).write_text(str(os.getpid()))
        # trust: no client authentication; PgBouncer logs in to the server with the password given here.
        (directory / "users.txt").write_text(f'"{server.user}" "{server.password or ""}"\n')
        if owner is not None:
            for path in (directory, directory / "users.txt"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        proc, bouncer = _start(executable, server, pool_mode, directory, owner)
        try:
            yield bouncer
        finally:
            _terminate(proc)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
