"""The lock holder's connection terminated with pg_terminate_backend while three runners wait for the lock: the
holder fails with a sqlmig error, a waiter takes over, and everything is applied exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from .checks import assert_end_state, lock_pollers, sleeping_backend
from .processes import WAITING_LOG, Launcher, wait_until, worker
from .scenario import SLOW_ENV, app_specs, names, write

WAITERS = 3


def test_waiters_take_over_when_the_lock_holder_is_terminated(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, runners: Launcher
) -> None:
    specs = app_specs()
    directory = write(tmp_path / "migrations", specs)

    holder = runners.start("holder", worker(db_url, directory), env=SLOW_ENV)
    holder_pid = wait_until(
        lambda: sleeping_backend(db), timeout=30, what="the slow migration to run", runners=[holder]
    )
    waiters = [runners.start(f"waiter-{i}", worker(db_url, directory)) for i in range(WAITERS)]
    everyone = [holder, *waiters]
    wait_until(
        lambda: len(lock_pollers(db, holder_pid)) == WAITERS and all(WAITING_LOG in w.log() for w in waiters),
        timeout=30,
        what=f"{WAITERS} runners to wait for the lock",
        runners=everyone,
    )
    assert db.execute("SELECT pg_terminate_backend(%s)", (holder_pid,)).fetchone() == (True,)

    holder_code = holder.finish(timeout=20)
    waiter_codes = [w.finish(timeout=60) for w in waiters]

    error = holder.outcome()["error"]
    assert error is not None, holder.describe()
    assert error["sqlmig"], f"the holder raised {error['type']}, not a sqlmig.SqlmigError:\n{error['traceback']}"
    assert specs[1].filename in error["message"], error["message"]
    assert re.search(r"terminat|connection", error["message"], re.IGNORECASE), error["message"]
    assert error["applied"] == [specs[0].name]
    assert holder_code == error["exit_code"] != 0

    assert waiter_codes == [0] * WAITERS, "\n".join(w.describe() for w in waiters)
    for w in waiters:
        assert f"held by pid {holder_pid} (application_name='sqlmig'" in w.log(), w.describe()
    # One waiter took the lock and applied the rest; the others then found nothing to do.
    assert sorted(w.outcome()["applied"] for w in waiters) == [[]] * (WAITERS - 1) + [names(specs[1:])]
    assert_end_state(db, specs)
