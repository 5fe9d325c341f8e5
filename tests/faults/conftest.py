"""Fixtures of the fault tests: runner processes stopped at the end, and servers a test may crash and restart.

The database tests of the whole suite share one server per major (``pg_server`` in ``tests/conftest.py``); a
test that restarts its server gets its own, so the others' connections and databases are not disturbed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..pgcluster import (
    EXTERNAL_URL_ENV,
    PgInstall,
    PgServer,
    managed_server,
    missing_reason,
    server_id,
    server_params,
    sweep_orphans,
    temporary_database,
    unavailable,
)
from .processes import Launcher

# Every server group of the suite: the installs found, and required majors that are missing (see server_params).
INSTALLS = [p for p in server_params() if p != "external"] or [None]


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Launcher]:
    """Start runner processes; any still running when the test ends is killed."""
    launcher = Launcher(tmp_path / "runners")
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module", params=INSTALLS, ids=server_id)
def own_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    """A server of each major found, started for this module alone, so that its tests may crash it."""
    install: PgInstall | str | None = request.param
    if os.environ.get(EXTERNAL_URL_ENV):
        pytest.skip(f"{EXTERNAL_URL_ENV} is set: the tests start no server, and do not restart an external one")
    if not isinstance(install, PgInstall):
        unavailable(missing_reason(install))
    sweep_orphans()
    with managed_server(install) as server:
        yield server


@pytest.fixture
def own_db_url(own_server: PgServer) -> Iterator[str]:
    """The URL of a new empty database on ``own_server``, dropped after the test."""
    with temporary_database(own_server) as url:
        yield url
