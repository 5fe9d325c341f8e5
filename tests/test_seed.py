"""The seed track: separate history, runs only on an up-to-date schema, pg_dump COPY blocks streamed."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import sqlmig

from .helpers import history, tree

SCHEMA = {
    "migrate/20240101_000000_schema.up.sql": (
        "CREATE SCHEMA master;\nCREATE TABLE master.things (id int PRIMARY KEY, label text, note text);\n"
    ),
}

# Exactly as pg_dump writes data: tab separated, \t \\ \n escapes, \N for NULL, ended by \.
DUMP = (
    "--\n-- PostgreSQL database dump\n--\n\n"
    "SET statement_timeout = 0;\n"
    "SELECT pg_catalog.set_config('search_path', '', false);\n\n"
    "COPY master.things (id, label, note) FROM stdin;\n"
    "1\tplain\t\\N\n"
    "2\twith\\ttab\tback\\\\slash\n"
    "3\tnew\\nline\tcafé ✓\n"
    "\\.\n\n"
    "INSERT INTO master.things VALUES (4, 'after copy', NULL);\n"
)


def test_seed_needs_migrations_first(db_url: str, tmp_path: Path) -> None:
    tree(tmp_path, {**SCHEMA, "seed/20240101_000001_data.up.sql": "INSERT INTO master.things VALUES (1, 'a');\n"})
    with pytest.raises(sqlmig.PendingMigrationsError, match="migrate up"):
        sqlmig.apply(db_url, tmp_path, track="seed")


def test_seed_has_its_own_history(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            **SCHEMA,
            "seed/20240101_000001_data.up.sql": "INSERT INTO master.things VALUES (1, 'a');\n",
            "seed/20240101_000001_data.down.sql": "DELETE FROM master.things WHERE id = 1;\n",
        },
    )
    assert sqlmig.apply(db_url, tmp_path).names == ("20240101_000000_schema",)
    assert sqlmig.apply(db_url, tmp_path, track="seed").names == ("20240101_000001_data",)
    assert history(db, "seed") == ["20240101_000001_data"]
    assert history(db, "migrate") == ["20240101_000000_schema"]
    assert not sqlmig.apply(db_url, tmp_path, track="seed")
    assert sqlmig.rollback(db_url, tmp_path, track="seed").names == ("20240101_000001_data",)
    assert db.execute("SELECT count(*) FROM master.things").fetchone() == (0,)
    assert history(db, "migrate") == ["20240101_000000_schema"]


def test_pg_dump_copy_block(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    tree(tmp_path, {**SCHEMA, "seed/20240101_000001_dump.up.sql": DUMP})
    sqlmig.apply(db_url, tmp_path)
    sqlmig.apply(db_url, tmp_path, track="seed")
    rows = db.execute("SELECT id, label, note FROM master.things ORDER BY id").fetchall()
    assert rows == [
        (1, "plain", None),
        (2, "with\ttab", "back\\slash"),
        (3, "new\nline", "café ✓"),
        (4, "after copy", None),
    ]
    assert history(db, "seed") == ["20240101_000001_dump"]


def test_seeds_run_again_after_every_migration_was_rolled_back(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    """make seed-up, make migrate-down (all), make migrate-up, make seed-up: the data is back."""
    files = {
        **SCHEMA,
        "migrate/20240101_000000_schema.down.sql": "DROP SCHEMA master CASCADE;\n",
        "migrate/20240102_000000_more.up.sql": "ALTER TABLE master.things ADD COLUMN extra int;\n",
        "migrate/20240102_000000_more.down.sql": "ALTER TABLE master.things DROP COLUMN extra;\n",
        "seed/20240101_000001_data.up.sql": "INSERT INTO master.things (id, label) VALUES (1, 'a');\n",
    }
    tree(tmp_path, files)
    sqlmig.apply(db_url, tmp_path)
    sqlmig.apply(db_url, tmp_path, track="seed")
    # Rolling back part of the schema keeps the seeds: their tables may still hold the data.
    assert len(sqlmig.rollback(db_url, tmp_path)) == 1
    assert history(db, "seed") == ["20240101_000001_data"]
    assert len(sqlmig.rollback(db_url, tmp_path, all=True)) == 1
    assert history(db, "seed") == []  # the last migration went, and the seeds' data with it
    assert len(sqlmig.apply(db_url, tmp_path)) == 2
    assert sqlmig.apply(db_url, tmp_path, track="seed").names == ("20240101_000001_data",)
    assert db.execute("SELECT label FROM master.things").fetchall() == [("a",)]


def test_bad_copy_row_rolls_back_the_seed(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    bad = DUMP.replace("3\tnew", "x\tnew")
    tree(tmp_path, {**SCHEMA, "seed/20240101_000001_dump.up.sql": bad})
    sqlmig.apply(db_url, tmp_path)
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, track="seed")
    assert info.value.sqlstate == "22P02"
    assert info.value.statement.startswith("COPY master.things")
    assert info.value.line == 11  # the bad data row, not just the COPY statement
    assert db.execute("SELECT count(*) FROM master.things").fetchone() == (0,)
    assert history(db, "seed") == []


def test_large_copy_seed_is_streamed(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlmig.render

    # Force the streaming path for a small file, so the test stays quick.
    monkeypatch.setattr(sqlmig.render, "STREAM_THRESHOLD", 1000)
    rows = "".join(f"{i}\tlabel {i}\t\\N\n" for i in range(20_000))
    seed = f"COPY master.things (id, label, note) FROM stdin;\n{rows}\\.\nINSERT INTO master.things VALUES (-1, 'x');\n"
    tree(tmp_path, {**SCHEMA, "seed/20240101_000001_big.up.sql": seed})
    sqlmig.apply(db_url, tmp_path)
    sqlmig.apply(db_url, tmp_path, track="seed")
    assert db.execute("SELECT count(*), max(id) FROM master.things").fetchone() == (20_001, 19_999)
