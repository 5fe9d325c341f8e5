"""Version skew in a rolling deploy: instances of the previous release start while, or after, the new release
applies its migrations. Their files are older than the history; they must start (nothing is pending for them),
warn naming the rows they do not know, and leave them alone; each migration still runs exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import sqlmig

from ..helpers import tree
from .checks import assert_end_state
from .processes import Launcher, Runner, cli_up, release_together, worker
from .scenario import Spec, names, spec, write

Conn = psycopg.Connection[tuple[object, ...]]

NEW_RELEASE = 12  # migrations in the new release's files
OLD_RELEASE = 4  # the previous release has the first four of them
NEW_PROCESSES = 5
OLD_PROCESSES = 3  # two through apply(), one through the CLI


def release(count: int) -> list[Spec]:
    """The first ``count`` migrations of the application: a table each, in one schema."""
    specs = []
    for i in range(count):
        sql = f"CREATE TABLE skew.t{i} (id int PRIMARY KEY);\n"
        objects = [f"table:skew.t{i}", f"index:skew.t{i}_pkey"]
        if i == 0:
            sql = "CREATE SCHEMA skew;\n" + sql
            objects.append("schema:skew")
        specs.append(spec(f"20240301_{i:06d}_skew_{i:02d}", sql, *objects))
    return specs


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The warnings sqlmig logs during the test (a handler on its own logger: the CLI tests turn propagation off)."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                seen.append(record.getMessage())

    handler = Keep()
    logger = logging.getLogger("sqlmig")
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


def test_previous_release_starts_beside_a_newer_history(
    db_url: str, db: Conn, tmp_path: Path, warnings_logged: list[str]
) -> None:
    new = release(3)
    directory = write(tmp_path / "migrations", new)
    assert sqlmig.apply(db_url, directory).names == tuple(names(new))
    (directory / f"migrate/{new[-1].filename}").unlink()  # the previous release: the same files but the newest

    report = sqlmig.apply(db_url, directory)
    assert not report and report.ahead == (new[-1].name,)
    assert len(warnings_logged) == 1 and f"{new[-1].name} (migrate)" in warnings_logged[0]
    assert [(e.name, e.state) for e in sqlmig.status(db_url, directory).entries] == [
        (new[0].name, "applied"),
        (new[1].name, "applied"),
        (new[2].name, "future"),
    ]
    with pytest.raises(sqlmig.MissingFileError, match="Roll them back with the newer release first") as info:
        sqlmig.rollback(db_url, directory)
    assert info.value.names == (new[-1].name,)
    assert_end_state(db, new)  # nothing was rolled back


def test_previous_release_applies_its_seeds_beside_migrations_ahead(
    db_url: str, db: Conn, tmp_path: Path, warnings_logged: list[str]
) -> None:
    new = release(2)
    directory = write(tmp_path / "migrations", new)
    assert sqlmig.apply(db_url, directory).names == tuple(names(new))
    (directory / f"migrate/{new[-1].filename}").unlink()
    tree(directory, {"seed/20240301_000001_rows.up.sql": "INSERT INTO skew.t0 VALUES (1);\n"})
    assert sqlmig.apply(db_url, directory, track="seed").names == ("20240301_000001_rows",)
    assert len(warnings_logged) == 1 and f"{new[-1].name} (migrate)" in warnings_logged[0]
    assert db.execute("SELECT count(*) FROM skew.t0").fetchone() == (1,)


def test_a_row_between_known_ones_still_stops_the_start(db_url: str, tmp_path: Path) -> None:
    new = release(3)
    directory = write(tmp_path / "migrations", new)
    sqlmig.apply(db_url, directory)
    (directory / f"migrate/{new[1].filename}").unlink()
    with pytest.raises(sqlmig.MissingFileError) as info:
        sqlmig.apply(db_url, directory)
    assert info.value.names == (new[1].name,)


def applied_by(runner: Runner, through_cli: bool) -> list[str]:
    if through_cli:  # the CLI logs one "applied NAME (N ms)" line per migration
        return [line.split()[1] for line in runner.out().splitlines() if line.startswith("applied ")]
    return list(runner.outcome()["applied"])


@pytest.mark.parametrize("before", [OLD_RELEASE + 1, 0], ids=["history ahead of the old files", "empty history"])
def test_old_and_new_release_instances_start_together(
    db_url: str, db: Conn, tmp_path: Path, runners: Launcher, before: int
) -> None:
    new, old = release(NEW_RELEASE), release(OLD_RELEASE)
    new_dir, old_dir = write(tmp_path / "new", new), write(tmp_path / "old", old)
    if before:  # the new release's first instance got as far as one migration past the old release
        assert sqlmig.apply(db_url, write(tmp_path / "first", new[:before])).names == tuple(names(new[:before]))
    barrier = tmp_path / "barrier"
    barrier.mkdir()

    procs = [runners.start(f"new-{i}", worker(db_url, new_dir, barrier)) for i in range(NEW_PROCESSES)]
    procs += [runners.start(f"old-{i}", worker(db_url, old_dir, barrier)) for i in range(OLD_PROCESSES - 1)]
    release_together(barrier, procs)
    cli = runners.start("old-cli", cli_up(old_dir), env={"SQLMIG_DATABASE_URL": db_url})
    everyone = [*procs, cli]
    codes = [p.finish(timeout=120) for p in everyone]

    assert [p.describe() for p, code in zip(everyone, codes, strict=True) if code != 0] == []
    applied = [name for p in everyone for name in applied_by(p, p is cli)]
    assert sorted(applied) == names(new[before:])  # each migration applied once, by one instance or another
    olds = [p for p in everyone if p.name.startswith("old")]
    assert {n for p in olds for n in applied_by(p, p is cli)} <= set(names(old))
    if before:
        # Every old instance saw the row past its files from the start: it applied nothing and said so.
        assert [n for p in olds for n in applied_by(p, p is cli)] == []
        for p in olds:
            log = p.log() + p.out()
            assert "the history is ahead of the files" in log and f"{new[OLD_RELEASE].name} (migrate)" in log, (
                p.describe()
            )
    assert_end_state(db, new)
