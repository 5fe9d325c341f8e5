"""Thirty-two application instances calling apply() at the same moment on 200 pending migrations: all succeed,
each migration runs exactly once, and the schema matches the history."""

from __future__ import annotations

from pathlib import Path

import psycopg

from .checks import assert_end_state
from .processes import Launcher, release_together, worker
from .scenario import Spec, names, spec, write

PROCESSES = 32
MIGRATIONS = 200
# The barrier releases every process within a few scheduler ticks; far more would mean they ran one after another.
MAX_START_SPREAD = 1.0


def fleet(count: int) -> list[Spec]:
    """A table and an index per migration, in one schema; every third also adds a column to the table before."""
    specs = []
    for i in range(count):
        sql = (
            f"CREATE TABLE fleet.t{i} (id int PRIMARY KEY, label text);\n"
            f"CREATE INDEX t{i}_label ON fleet.t{i} (label);\n"
        )
        objects = [f"table:fleet.t{i}", f"index:fleet.t{i}_pkey", f"index:fleet.t{i}_label"]
        if i == 0:
            sql = "CREATE SCHEMA fleet;\n" + sql
            objects.append("schema:fleet")
        if i % 3 == 2:
            sql += f"ALTER TABLE fleet.t{i - 1} ADD COLUMN note_{i} text;\n"
            objects.append(f"column:fleet.t{i - 1}.note_{i}")
        specs.append(spec(f"20240201_{i:06d}_fleet_{i:03d}", sql, *objects))
    return specs


def test_thirty_two_processes_apply_two_hundred_migrations_at_once(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, runners: Launcher
) -> None:
    specs = fleet(MIGRATIONS)
    directory = write(tmp_path / "migrations", specs)
    barrier = tmp_path / "barrier"
    barrier.mkdir()

    procs = [runners.start(f"app-{i:02d}", worker(db_url, directory, barrier)) for i in range(PROCESSES)]
    release_together(barrier, procs)
    codes = [p.finish(timeout=60) for p in procs]

    assert [p.describe() for p, code in zip(procs, codes, strict=True) if code != 0] == []
    outcomes = [p.outcome() for p in procs]
    starts = [o["started"] for o in outcomes]
    assert max(starts) - min(starts) < MAX_START_SPREAD
    applied = [name for o in outcomes for name in o["applied"]]
    assert sorted(applied) == names(specs)  # each migration applied by exactly one process
    assert_end_state(db, specs)
