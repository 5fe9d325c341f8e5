"""A runner killed with SIGKILL in the middle of a long migration: the server rolls that migration back, and the
next run applies it and the rest exactly once."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psycopg

from .checks import assert_consistent, assert_end_state, assert_no_advisory_lock, backend_gone, sleeping_backend
from .processes import Launcher, cli_up, wait_until
from .scenario import SLOW_ENV, app_specs, names, write


def test_killed_runner_is_rolled_back_and_the_rerun_applies_the_rest(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, runners: Launcher
) -> None:
    specs = app_specs()
    directory = write(tmp_path / "migrations", specs)
    env = {"SQLMIG_DATABASE_URL": db_url}

    killed = runners.start("killed", cli_up(directory), env={**env, **SLOW_ENV})
    pid = wait_until(lambda: sleeping_backend(db), timeout=30, what="the slow migration to run", runners=[killed])
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish(timeout=10) == -signal.SIGKILL
    # The backend notices the closed socket at its next client connection check, then aborts its transaction.
    wait_until(lambda: backend_gone(db, pid), timeout=10, what=f"backend {pid} of the killed runner to end")

    assert f"applied {specs[0].name}" in killed.out()
    assert assert_consistent(db, specs) == [specs[0].name]  # the killed migration left nothing behind
    assert_no_advisory_lock(db)

    rerun = runners.start("rerun", cli_up(directory, "--json"), env=env)
    assert rerun.finish(timeout=60) == 0, rerun.describe()
    assert [r["name"] for r in json.loads(rerun.out())["results"]] == names(specs[1:])
    assert_end_state(db, specs)
