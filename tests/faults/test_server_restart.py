"""The server restarted with ``pg_ctl restart -m immediate`` in the middle of a run: the run fails with a sqlmig
error naming the migration it was in, the server's crash recovery drops that migration, and the next run applies
everything exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from psycopg import sql

import sqlmig

from ..pgcluster import PgServer
from .checks import assert_consistent, assert_end_state, sleeping_backend
from .processes import Launcher, restart_immediately, wait_until, worker
from .scenario import SLOW_ENV, app_specs, names, write


def test_immediate_restart_fails_the_run_with_a_sqlmig_error_and_the_rerun_completes(
    own_server: PgServer, own_db_url: str, tmp_path: Path, runners: Launcher
) -> None:
    specs = app_specs()
    directory = write(tmp_path / "migrations", specs)
    with psycopg.connect(own_db_url, autocommit=True) as conn:
        # The test servers run with synchronous_commit=off; a migration that sqlmig reported committed must
        # survive the crash, as it would on a production server.
        dbname = sql.Identifier(conn.info.dbname)
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = on").format(dbname))

    run = runners.start("interrupted", worker(own_db_url, directory), env=SLOW_ENV)
    with psycopg.connect(own_db_url, autocommit=True) as watch:
        wait_until(lambda: sleeping_backend(watch), timeout=30, what="the slow migration to run", runners=[run])
    restart_immediately(own_server)
    code = run.finish(timeout=30)

    error = run.outcome()["error"]
    assert error is not None, run.describe()
    assert error["sqlmig"], f"the run raised {error['type']}, not a sqlmig.SqlmigError:\n{error['traceback']}"
    slow = specs[1]
    assert slow.filename in error["message"], error["message"]
    assert re.search(r"shut ?down|terminat|connection", error["message"], re.IGNORECASE), error["message"]
    assert error["applied"] == [specs[0].name]
    assert code == error["exit_code"] != 0

    with psycopg.connect(own_db_url, autocommit=True) as db:
        assert assert_consistent(db, specs) == [specs[0].name]
        assert sqlmig.apply(own_db_url, directory).names == tuple(names(specs[1:]))
        assert_end_state(db, specs)
