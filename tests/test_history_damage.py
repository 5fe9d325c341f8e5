"""A history table changed by hand: emptied, dropped, a column lost, a row duplicated; and `baseline`, which
records what is already in the database."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main

from .helpers import history, relations, tree

FILES = {
    "migrate/20240101_000000_create_a.up.sql": "CREATE TABLE public.a (id int);\n",
    "migrate/20240102_000000_create_b.up.sql": "CREATE TABLE public.b (id int);\n",
}
NAMES = ["20240101_000000_create_a", "20240102_000000_create_b"]
Conn = psycopg.Connection[tuple[object, ...]]


def applied(db_url: str, tmp_path: Path) -> Path:
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory)
    return directory


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM public.migration_history",
        "DROP TABLE public.migration_history",
        "ALTER TABLE public.migration_history RENAME TO old_history",
    ],
    ids=["emptied", "dropped", "renamed"],
)
def test_lost_history_points_at_baseline(db_url: str, db: Conn, tmp_path: Path, damage: str) -> None:
    directory = applied(db_url, tmp_path)
    db.execute(damage)
    before = relations(db)
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, directory)
    err = info.value
    assert err.sqlstate == "42P07" and err.name == NAMES[0] and err.rolled_back
    assert "the history table has no migrate rows, yet this object exists" in str(err)
    assert "sqlmig migrate baseline --to VERSION" in str(err)

    def others(names: set[str]) -> set[str]:
        return {n for n in names if not n.startswith("migration_history")}

    assert others(relations(db)) == others(before)  # the failed migration left nothing behind
    result = CliRunner().invoke(
        main, ["migrate", "baseline", "--to", "20240102_000000", "--database-url", db_url, "--dir", str(directory)]
    )
    assert result.exit_code == 0, result.output
    assert f"Recorded 2 migrate migration(s) as applied without running them: {', '.join(NAMES)}" in result.output
    assert history(db) == NAMES and not sqlmig.apply(db_url, directory)


def test_baseline_records_only_up_to_the_version(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    db.execute("CREATE TABLE public.a (id int)")
    assert sqlmig.baseline(db_url, directory, to="20240101_000000") == NAMES[:1]
    assert sqlmig.baseline(db_url, directory, to="20240101_000000") == []
    assert sqlmig.apply(db_url, directory).names == (NAMES[1],)
    rows = db.execute("SELECT name, duration_ms, checksum IS NOT NULL FROM public.migration_history ORDER BY id")
    assert rows.fetchone() == (NAMES[0], 0, True)
    with pytest.raises(sqlmig.PlanError, match="--to 20991231_000000: no migrate migration file has that version"):
        sqlmig.baseline(db_url, directory, to="20991231_000000")


@pytest.mark.parametrize("column", ["name", "type"])
def test_history_without_a_needed_column_is_refused(db_url: str, db: Conn, tmp_path: Path, column: str) -> None:
    directory = applied(db_url, tmp_path)
    db.execute(f"ALTER TABLE public.migration_history DROP COLUMN {column}")
    with pytest.raises(sqlmig.HistoryTableError) as info:
        sqlmig.apply(db_url, directory)
    assert f"the history table public.migration_history has no column {column}: it was altered by hand" in str(
        info.value
    )
    assert "Restore the table from a backup" in str(info.value)
    result = CliRunner().invoke(main, ["status", "--database-url", db_url, "--dir", str(directory)])
    assert result.exit_code == 4 and "altered by hand" in result.output


def test_history_that_lost_a_sqlmig_column_is_repaired(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = applied(db_url, tmp_path)
    db.execute("ALTER TABLE public.migration_history DROP COLUMN checksum, DROP COLUMN statements_done")
    assert [e.state for e in sqlmig.status(db_url, directory).entries] == ["applied", "applied"]
    tree(directory, {"migrate/20240103_000000_create_c.up.sql": "CREATE TABLE public.c (id int);\n"})
    assert sqlmig.apply(db_url, directory).names == ("20240103_000000_create_c",)
    columns = {
        c
        for (c,) in db.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'public.migration_history'::regclass")
    }
    assert {"checksum", "statements_done"} <= columns


def test_history_with_a_duplicated_row_is_refused(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = applied(db_url, tmp_path)
    db.execute("ALTER TABLE public.migration_history DROP CONSTRAINT migration_history_name_key")
    db.execute(
        "INSERT INTO public.migration_history (name, type, executed_at)"
        " SELECT name, type, executed_at FROM public.migration_history WHERE name = %s",
        (NAMES[0],),
    )
    with pytest.raises(sqlmig.HistoryTableError) as info:
        sqlmig.apply(db_url, directory)
    assert f"records {NAMES[0]} more than once" in str(info.value) and info.value.names == (NAMES[0],)
    assert "Delete the duplicate rows" in str(info.value)
