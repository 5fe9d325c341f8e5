"""The Migrator against real PostgreSQL: built once from resolved settings, and one guarded section for every
writer (the waiter that finds the work done returns without the lock, for down as for up)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

import sqlmig
from sqlmig import config
from sqlmig.migrator import Migrator
from sqlmig.model import TableName
from sqlmig.plan import DownTarget
from sqlmig.run import lock

from .faults.waiting import watching_waiters
from .helpers import history, tree

Conn = psycopg.Connection[tuple[object, ...]]
TABLE = TableName("public", "migration_history")
FILES = {
    "migrate/20240101_000000_a.up.sql": "CREATE TABLE public.a (id int);\n",
    "migrate/20240101_000000_a.down.sql": "DROP TABLE public.a;\n",
    "migrate/20240102_000000_b.up.sql": "CREATE TABLE public.b (id int);\n",
    "migrate/20240102_000000_b.down.sql": "DROP TABLE public.b;\n",
    "migrate/20240103_000000_c.up.sql": "CREATE TABLE public.c (id int);\n",
    "migrate/20240103_000000_c.down.sql": "DROP TABLE public.c;\n",
}


def test_apply_up_to_a_version_then_the_rest(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    assert sqlmig.apply(db_url, directory, to="20240102_000000").names == ("20240101_000000_a", "20240102_000000_b")
    assert history(db) == ["20240101_000000_a", "20240102_000000_b"]
    assert sqlmig.apply(db_url, directory, to="20240102_000000").names == ()
    with pytest.raises(sqlmig.PlanError, match="no migrate migration file has version 20240109_000000"):
        sqlmig.apply(db_url, directory, to="20240109_000000")
    assert sqlmig.apply(db_url, directory).names == ("20240103_000000_c",)


def test_a_migrator_keeps_the_settings_it_was_built_with(
    db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tree(tmp_path / "app", {f"db/{k}": v for k, v in FILES.items()})
    (project / "pyproject.toml").write_text('[tool.sqlmig]\ndirectory = "db"\n')
    monkeypatch.chdir(project)
    migrator = Migrator.from_config(db_url)
    assert migrator.settings.directory == project / "db"
    # Later changes of the working directory or of the configuration do not reach a built Migrator.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (project / "pyproject.toml").write_text('[tool.sqlmig]\ndirectory = "nowhere"\n')
    assert len(migrator.up(to="20240101_000000")) == 1
    assert len(migrator.up()) == 2
    assert [e.state for e in migrator.status(("migrate",)).entries] == ["applied"] * 3
    assert len(migrator.down(steps=2)) == 2
    assert history(db) == ["20240101_000000_a"]
    built = Migrator(config.Settings(database_url=db_url, directory=project / "db"))
    assert built.up().names == ("20240102_000000_b", "20240103_000000_c")


@contextmanager
def recording_holds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Record what every lock.hold() of sqlmig gives its block: True (held) or False (work done elsewhere)."""
    given: list[bool] = []
    original = lock.hold

    @contextmanager
    def hold(*args: Any, **kwargs: Any) -> Iterator[bool]:
        with original(*args, **kwargs) as held:
            given.append(held)
            yield held

    monkeypatch.setattr(lock, "hold", hold)
    yield given


@pytest.mark.parametrize("writer", ["up", "down"])
def test_a_waiting_writer_that_finds_the_work_done_returns_without_the_lock(
    writer: str, db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tree(tmp_path, FILES)
    migrator = Migrator.from_config(db_url, directory)
    if writer == "down":
        migrator.up()
    results: list[sqlmig.Report] = []
    with recording_holds(monkeypatch) as holds, watching_waiters() as listening:
        with psycopg.connect(db_url, autocommit=True) as holder, lock.hold(holder, TABLE, 5) as held:
            assert held
            waiter = threading.Thread(
                target=lambda: results.append(migrator.up() if writer == "up" else migrator.down(all=True))
            )
            waiter.start()
            deadline = threading.Event()
            while listening.count() < 1 and not deadline.wait(0.01):
                pass
            # The holder does the same work as the waiter would, then releases the lock.
            other = Migrator.from_config(holder, directory)
            done = other.up() if writer == "up" else other.down(all=True)
            assert len(done) == 3
        waiter.join(30)
    assert not waiter.is_alive()
    assert [len(r) for r in results] == [0]
    assert holds == [True, True, False]  # the holder's own hold, its run's nested one, then the waiter's
    assert history(db) == ([] if writer == "down" else [name.split("/")[1][:-7] for name in FILES if ".up." in name])


@pytest.mark.parametrize(
    ("layout", "start", "expected"),
    [
        ({"pyproject.toml": "[tool.sqlmig]\n"}, ".", "."),
        ({"pyproject.toml": "[tool.sqlmig]\n", "app/x.py": ""}, "app", "."),
        ({"pyproject.toml": "[tool.sqlmig]\n", "a/pyproject.toml": "[tool.other]\n", "a/b/x.py": ""}, "a/b", "."),
        ({"pyproject.toml": "[tool.sqlmig]\n", "a/pyproject.toml": '[tool.sqlmig]\ndirectory = "m"\n'}, "a", "a"),
        ({"pyproject.toml": "[project]\nname = 'x'\n", "a/x.py": ""}, "a", None),
        ({"a/x.py": ""}, "a", None),
    ],
    ids=["here", "below", "skips-other-tools", "nearest-wins", "no-sqlmig-table", "none"],
)
def test_the_project_is_found_walking_up(
    tmp_path: Path, layout: dict[str, str], start: str, expected: str | None
) -> None:
    root = tree(tmp_path / "p", dict(layout))
    (root / start).mkdir(parents=True, exist_ok=True)
    found = config.find_project(root / start)
    assert found == (None if expected is None else root / expected)


STARTUP = """
import sqlmig, sys
report = sqlmig.apply(sys.argv[1])
print(",".join(report.names))
"""


def test_an_application_finds_its_migrations_from_any_working_directory(db_url: str, db: Conn, tmp_path: Path) -> None:
    project = tree(tmp_path / "app", {f"db/{k}": v for k, v in FILES.items()} | {"src/app/start.py": STARTUP})
    (project / "pyproject.toml").write_text('[tool.sqlmig]\ndirectory = "db"\n')
    elsewhere = tmp_path / "service-cwd"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, str(project / "src/app/start.py"), db_url],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20240101_000000_a,20240102_000000_b,20240103_000000_c"
    assert len(history(db)) == 3


def test_the_cli_finds_the_project_from_a_subfolder(db_url: str, db: Conn, tmp_path: Path) -> None:
    project = tree(tmp_path / "app", {f"db/{k}": v for k, v in FILES.items()})
    (project / "pyproject.toml").write_text('[tool.sqlmig]\ndirectory = "db"\n')
    (project / "src" / "deep").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "sqlmig", "migrate", "up", "--database-url", db_url],
        cwd=project / "src" / "deep",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(history(db)) == 3


def test_dry_run_and_verify_through_a_migrator(db_url: str, db: Conn, tmp_path: Path) -> None:
    migrator = Migrator.from_config(db_url, tree(tmp_path, FILES))
    planned = migrator.dry_run(to="20240102_000000")
    assert [s.name for s in planned] == ["20240101_000000_a", "20240102_000000_b"]
    assert planned[0].sql == "CREATE TABLE public.a (id int);\n"
    migrator.up()
    assert [s.name for s in migrator.dry_run(direction="down", target=DownTarget(steps=2))] == [
        "20240103_000000_c",
        "20240102_000000_b",
    ]
    report = migrator.verify()
    assert report.ok and report.checked == tuple(f"2024010{i}_000000_{n}" for i, n in ((1, "a"), (2, "b"), (3, "c")))
    (tmp_path / "migrate/20240103_000000_c.down.sql").write_text("SELECT 1;\n")  # forgets its table
    broken = Migrator.from_config(db_url, tmp_path).verify()
    assert [(p.kind, p.name) for p in broken.problems] == [("down-differs", "20240103_000000_c")]
    assert history(db) == [name for name in broken.checked]  # the database itself was not touched
