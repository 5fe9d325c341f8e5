"""Instances started together while the one holding the lock runs ``CREATE INDEX CONCURRENTLY`` or its kin.

These statements wait for other sessions' transactions (REINDEX and CREATE INDEX for every older snapshot, DROP
INDEX and DETACH PARTITION for the table's lockers). A waiter that waits for the lock inside a transaction is
then waited for by the statement while it waits for the lock the statement's session holds: a deadlock (40P01).
It shows once the waiters have waited past their first second, so the concurrent file here runs after that: after
a slow migration, or after the lock was held elsewhere until every instance had logged that it waits. Every
instance must exit 0, each migration be recorded once, and no lock be left.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from sqlmig.files import discover_tracks
from sqlmig.model import TableName
from sqlmig.run import lock

from .checks import assert_end_state, assert_no_advisory_lock, recorded
from .processes import WAITING_LOG, Launcher, Runner, cli_up, release_together, wait_until, worker
from .scenario import Spec, names, spec, write

Conn = psycopg.Connection[tuple[object, ...]]
PROCESSES = 8
REPO = Path(__file__).resolve().parents[2]
HISTORY = TableName("public", "migration_history")

SETUP = """\
CREATE SCHEMA conc;
CREATE TABLE conc.items (id int PRIMARY KEY, title text NOT NULL);
INSERT INTO conc.items SELECT g, 'item ' || g FROM generate_series(1, 2000) AS g;
CREATE INDEX items_old_idx ON conc.items (title);
CREATE TABLE conc.events (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE conc.events_2024 PARTITION OF conc.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"""
# The waiters are more than a second into their wait when the concurrent file starts.
SLOW = "SELECT pg_sleep(1.5);\n"
CONCURRENT = {
    "create_index": ("CREATE INDEX CONCURRENTLY items_title_idx ON conc.items (title);", "index:conc.items_title_idx"),
    "drop_index": ("DROP INDEX CONCURRENTLY conc.items_old_idx;", None),
    "reindex": ("REINDEX INDEX CONCURRENTLY conc.items_old_idx;", None),
    "detach_partition": ("ALTER TABLE conc.events DETACH PARTITION conc.events_2024 CONCURRENTLY;", None),
}
# What each concurrent statement leaves, beyond its history row.
AFTERWARDS = {
    "create_index": "SELECT count(*) = 1 FROM pg_indexes WHERE indexname = 'items_title_idx'",
    "drop_index": "SELECT to_regclass('conc.items_old_idx') IS NULL",
    "reindex": "SELECT count(*) = 1 FROM pg_indexes WHERE schemaname = 'conc' AND indexname LIKE 'items_old_idx%'",
    "detach_partition": "SELECT NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'conc.events_2024'::regclass)",
}


def concurrent_specs(kind: str) -> list[Spec]:
    """A table and a partitioned table, a slow migration, then one ``no-transaction`` file running ``kind``."""
    statement, made = CONCURRENT[kind]
    return [
        spec("20240301_000001_setup", SETUP, "schema:conc", "table:conc.items", "table:conc.events"),
        spec("20240301_000002_slow", SLOW),
        spec(f"20240301_000003_{kind}", f"-- sqlmig: no-transaction\n{statement}\n", *([made] if made else [])),
    ]


def assert_no_invalid_index(db: Conn) -> None:
    assert db.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid").fetchall() == []


def finish_all(procs: list[Runner]) -> None:
    """Every instance exits 0 (the descriptions of those that did not are the failure message)."""
    codes = [p.finish(timeout=90) for p in procs]
    assert [p.describe() for p, code in zip(procs, codes, strict=True) if code != 0] == []


@pytest.mark.timeout(120)
# CREATE INDEX CONCURRENTLY, the first release's deadlock, on every major; the other statements on the oldest and
# the newest.
@pytest.mark.parametrize(
    "kind", [pytest.param(kind, marks=[pytest.mark.core] if kind == "create_index" else []) for kind in CONCURRENT]
)
def test_instances_started_together_get_past_a_concurrent_statement(
    kind: str, db_url: str, db: Conn, tmp_path: Path, runners: Launcher
) -> None:
    specs = concurrent_specs(kind)
    directory = write(tmp_path / "migrations", specs)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [runners.start(f"app-{i}", worker(db_url, directory, barrier)) for i in range(PROCESSES)]
    release_together(barrier, procs)
    finish_all(procs)

    applied = [name for p in procs for name in p.outcome()["applied"]]
    assert sorted(applied) == names(specs)  # each migration applied by exactly one instance
    # The others waited for the lock while the slow migration ran, and found the work done.
    assert sum(WAITING_LOG in p.log() for p in procs) >= 1
    assert_end_state(db, specs)
    assert db.execute(AFTERWARDS[kind]).fetchone() == (True,)
    assert_no_invalid_index(db)


@contextmanager
def held_elsewhere(url: str) -> Iterator[None]:
    """Another run holding the migration lock for the body of the ``with`` block."""
    with psycopg.connect(url, autocommit=True) as conn, lock.hold(conn, HISTORY, 30) as held:
        assert held
        yield


@pytest.mark.timeout(120)
@pytest.mark.parametrize("surface", ["apply", "cli"])
def test_instances_started_together_apply_the_repository_migrations(
    surface: str, db_url: str, db: Conn, runners: Launcher
) -> None:
    """The project's own migrations, whose last file builds two indexes with CREATE INDEX CONCURRENTLY."""
    # The instances run where the project's pyproject.toml is, as an application would: its [tool.sqlmig] has
    # the template variables the migrations use.
    shutil.copy(REPO / "pyproject.toml", runners.folder / "pyproject.toml")
    directory = REPO / "migrations"
    expected = [f.name for f in discover_tracks(directory, ("migrate",))["migrate"]]
    assert expected[-1].endswith("_index_items_title")

    with held_elsewhere(db_url):
        if surface == "apply":
            procs = [runners.start(f"app-{i}", worker(db_url, directory)) for i in range(PROCESSES)]
        else:
            env = {"SQLMIG_DATABASE_URL": db_url}
            procs = [runners.start(f"cli-{i}", cli_up(directory), env=env) for i in range(PROCESSES)]
        # The CLI logs to stdout, apply() in the worker to stderr.
        wait_until(
            lambda: all(WAITING_LOG in p.out() + p.log() for p in procs),
            timeout=60,
            what=f"{PROCESSES} instances to wait for the lock for a second",
            runners=procs,
        )
    finish_all(procs)

    rows = recorded(db)
    assert [name for name, _ in rows] == expected  # each recorded once, in order
    assert db.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'items_%_idx'").fetchone() == (2,)
    assert_no_invalid_index(db)
    assert_no_advisory_lock(db)
