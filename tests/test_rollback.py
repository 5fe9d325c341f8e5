"""sqlmig.rollback(): reverse version order, --steps, --to, --all, missing down files."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import sqlmig

from .helpers import history, relations, tree

NAMES = [f"2024010{i}_000000_t{i}" for i in range(1, 5)]


def four(tmp_path: Path, *, without_down: tuple[int, ...] = ()) -> Path:
    files: dict[str, str | bytes] = {}
    for i, name in enumerate(NAMES, start=1):
        files[f"migrate/{name}.up.sql"] = f"CREATE TABLE public.t{i} (id int);\n"
        if i not in without_down:
            # Each down logs its order, so the test sees the order the downs ran in.
            files[f"migrate/{name}.down.sql"] = f"DROP TABLE public.t{i};\nINSERT INTO public.down_log VALUES ({i});\n"
    return tree(tmp_path, files)


@pytest.fixture
def applied(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> Path:
    db.execute("CREATE TABLE public.down_log (n int, at serial)")
    directory = four(tmp_path)
    sqlmig.apply(db_url, directory)
    return directory


def down_order(db: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    return [int(r[0]) for r in db.execute("SELECT n FROM public.down_log ORDER BY at")]  # type: ignore[call-overload]


def test_down_rolls_back_one(db_url: str, db: psycopg.Connection[tuple[object, ...]], applied: Path) -> None:
    report = sqlmig.rollback(db_url, applied)
    assert report.names == (NAMES[3],) and report.direction == "down"
    assert history(db) == NAMES[:3]
    assert "t4" not in relations(db)


def test_steps_run_newest_first(db_url: str, db: psycopg.Connection[tuple[object, ...]], applied: Path) -> None:
    assert sqlmig.rollback(db_url, applied, steps=2).names == (NAMES[3], NAMES[2])
    assert down_order(db) == [4, 3]
    assert history(db) == NAMES[:2]


def test_to_keeps_that_version(db_url: str, db: psycopg.Connection[tuple[object, ...]], applied: Path) -> None:
    sqlmig.rollback(db_url, applied, to="20240102_000000")
    assert history(db) == NAMES[:2]
    assert down_order(db) == [4, 3]


def test_all_then_up_again(db_url: str, db: psycopg.Connection[tuple[object, ...]], applied: Path) -> None:
    assert len(sqlmig.rollback(db_url, applied, all=True)) == 4
    assert down_order(db) == [4, 3, 2, 1]
    assert history(db) == []
    assert len(sqlmig.apply(db_url, applied)) == 4


def test_nothing_applied_is_an_empty_report(db_url: str, tmp_path: Path) -> None:
    report = sqlmig.rollback(db_url, four(tmp_path))
    assert not report


def test_missing_down_stops_before_anything_runs(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE public.down_log (n int, at serial)")
    directory = four(tmp_path, without_down=(2,))
    sqlmig.apply(db_url, directory)
    with pytest.raises(sqlmig.MissingDownError) as info:
        sqlmig.rollback(db_url, directory, all=True)
    assert info.value.names == (NAMES[1],)
    assert "20240102_000000_t2" in str(info.value)
    assert history(db) == NAMES and down_order(db) == []


def test_failing_down_keeps_its_row(db_url: str, db: psycopg.Connection[tuple[object, ...]], applied: Path) -> None:
    (applied / f"migrate/{NAMES[2]}.down.sql").write_text("DROP TABLE public.t3;\nDROP TABLE public.nope;\n")
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.rollback(db_url, applied, steps=2)
    assert info.value.line == 2 and info.value.applied == (NAMES[3],)
    assert history(db) == NAMES[:3]
    assert "t3" in relations(db)
