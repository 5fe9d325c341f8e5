"""Real PostgreSQL for the tests: one server per major version found, and a fresh database per test.

The servers come from ``tests/pgcluster.py``. ``SQLMIG_TEST_DATABASE_URL`` points the suite at an existing
server instead, and then none is started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from .pgcluster import (
    EVERY_MAJOR_ENV,
    EXTERNAL_URL_ENV,
    PgInstall,
    PgServer,
    cluster_owner,
    external_server,
    find_installs,
    managed_server,
    missing_reason,
    required_majors,
    running_as_root,
    server_id,
    server_params,
    sweep_orphans,
    temporary_database,
    unavailable,
)


@pytest.fixture(scope="session", params=server_params(), ids=server_id)
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    """Yield each server under test in turn: one started per PostgreSQL major found, or the external one."""
    param: PgInstall | str | None = request.param
    if param == "external":
        yield external_server(os.environ[EXTERNAL_URL_ENV])
    elif isinstance(param, PgInstall):
        sweep_orphans()
        with managed_server(param) as server:
            yield server
    else:
        unavailable(missing_reason(param))


@pytest.fixture
def db_url(pg_server: PgServer) -> Iterator[str]:
    """Yield the libpq URL of a new empty database, dropped after the test."""
    with temporary_database(pg_server) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """Yield an autocommit connection to the test's database, for setting up and checking state."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the whole suite on the oldest and the newest major under test, and on the majors between them only the
    tests marked ``core``; a test marked ``newest`` (sqlmig's own logic, the same on every major) runs on the newest
    only. SQLMIG_TEST_EVERY_MAJOR=1 runs every test on every major: see docs/testing.md."""
    if os.environ.get(EVERY_MAJOR_ENV) == "1":
        return
    majors = sorted({p.major for p in server_params() if isinstance(p, PgInstall)})
    between = set(majors[1:-1])
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        majors_of_item = {p.major for p in params if isinstance(p, PgInstall)}  # pg_server's, or own_server's
        only_newest = item.get_closest_marker("newest") is not None and majors_of_item - {majors[-1]}
        if only_newest or (majors_of_item & between and item.get_closest_marker("core") is None):
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name every server the database tests will run against."""
    url = os.environ.get(EXTERNAL_URL_ENV)
    if url:
        try:
            server = external_server(url)
        except psycopg.Error as exc:
            return [f"postgresql external ({EXTERNAL_URL_ENV}): cannot connect: {str(exc).splitlines()[0]}"]
        return [f"postgresql external: {server.server_version} at {server.host}:{server.port}"]
    installs = find_installs()
    if not installs:
        return ["postgresql: none found, database tests will be skipped"]
    lines = [f"postgresql pg{i.major}: {i.version}, {i.bindir}" for i in installs]
    if len(installs) > 2 and os.environ.get(EVERY_MAJOR_ENV) != "1":
        between = ", ".join(f"pg{i.major}" for i in installs[1:-1])
        lines.append(f"postgresql {between}: the core tests only ({EVERY_MAJOR_ENV}=1 runs every test on every major)")
    required = required_majors()
    if required:
        lines.append(f"postgresql majors required (fail if missing): {', '.join(map(str, required))}")
    if running_as_root():
        owner = cluster_owner()
        lines.append(f"postgresql clusters owned by OS user: {owner.pw_name if owner else 'none found'}")
    return lines
