"""The history table: adopting the seed runner's table, drift and accept, status, a custom table name."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import sqlmig

from .helpers import history, tree

# Runs on every PostgreSQL major (docs/testing.md): the history table may differ between majors.
pytestmark = pytest.mark.core

FILES = {
    "migrate/00000000_000000_create_schemas.up.sql": "CREATE SCHEMA auth;\nCREATE SCHEMA app;\n",
    "migrate/20251124_000100_create_users.up.sql": "CREATE TABLE auth.users (id int);\n",
    "migrate/20251124_000200_create_items.up.sql": "CREATE TABLE app.items (id int);\n",
    "seed/20251124_000001_default_data.up.sql": "INSERT INTO auth.users VALUES (1);\n",
}


def test_adopts_the_seed_runners_table(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    # The database as the seed's TypeScript runner left it: two migrations and nothing else recorded.
    db.execute(
        "CREATE TABLE migration_history (id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL,"
        " type varchar(50) NOT NULL, executed_at timestamp DEFAULT CURRENT_TIMESTAMP)"
    )
    db.execute("CREATE SCHEMA auth; CREATE SCHEMA app; CREATE TABLE auth.users (id int)")
    db.execute(
        "INSERT INTO migration_history (name, type) VALUES"
        " ('00000000_000000_create_schemas', 'migrate'), ('20251124_000100_create_users', 'migrate')"
    )
    directory = tree(tmp_path, FILES)
    status = sqlmig.status(db_url, directory)
    assert [(e.name, e.state) for e in status.entries if e.track == "migrate"] == [
        ("00000000_000000_create_schemas", "applied"),
        ("20251124_000100_create_users", "applied"),
        ("20251124_000200_create_items", "pending"),
    ]
    assert sqlmig.apply(db_url, directory).names == ("20251124_000200_create_items",)
    rows = db.execute("SELECT name, version, checksum IS NULL FROM public.migration_history ORDER BY id").fetchall()
    assert rows == [
        ("00000000_000000_create_schemas", "00000000_000000", True),
        ("20251124_000100_create_users", "20251124_000100", True),
        ("20251124_000200_create_items", "20251124_000200", False),
    ]
    assert sqlmig.apply(db_url, directory, track="seed").names == ("20251124_000001_default_data",)
    # Rows without checksums are trusted; accept fills them in.
    assert sorted(sqlmig.accept(db_url, directory)) == [
        "00000000_000000_create_schemas",
        "20251124_000100_create_users",
    ]
    assert db.execute("SELECT count(*) FROM public.migration_history WHERE checksum IS NULL").fetchone() == (0,)


def test_accept_on_the_seed_runners_table_before_any_sqlmig_run(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE migration_history (id serial PRIMARY KEY, name varchar(255) UNIQUE NOT NULL,"
        " type varchar(50) NOT NULL, executed_at timestamp DEFAULT CURRENT_TIMESTAMP)"
    )
    db.execute("INSERT INTO migration_history (name, type) VALUES ('00000000_000000_create_schemas', 'migrate')")
    directory = tree(tmp_path, FILES)
    assert sqlmig.accept(db_url, directory) == ["00000000_000000_create_schemas"]
    assert db.execute("SELECT count(*) FROM public.migration_history WHERE checksum IS NULL").fetchone() == (0,)


def test_no_op_on_the_seed_runners_table_does_not_alter_it(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE migration_history (id serial, name varchar(255) UNIQUE, type varchar(50), executed_at timestamp)"
    )
    db.execute("INSERT INTO migration_history (name, type) VALUES ('20251124_000100_create_users', 'migrate')")
    directory = tree(tmp_path, {"migrate/20251124_000100_create_users.up.sql": "CREATE TABLE public.u (id int);\n"})
    assert not sqlmig.apply(db_url, directory)
    columns = db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'migration_history'")
    assert columns.fetchone() == (4,)


def test_drift_is_an_error_until_accepted(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory)
    edited = directory / "migrate/20251124_000100_create_users.up.sql"
    edited.write_text("CREATE TABLE auth.users (id bigint);\n")
    tree(directory, {"migrate/20251124_000300_more.up.sql": "CREATE TABLE app.more (id int);\n"})
    with pytest.raises(sqlmig.DriftError) as info:
        sqlmig.apply(db_url, directory)
    assert info.value.names == ("20251124_000100_create_users",)
    assert "sqlmig migrate accept 20251124_000100_create_users" in str(info.value)
    assert [e.state for e in sqlmig.status(db_url, directory).entries if e.name.endswith("users")] == ["drifted"]
    assert sqlmig.accept(db_url, directory, names=["20251124_000100_create_users"]) == ["20251124_000100_create_users"]
    assert sqlmig.apply(db_url, directory).names == ("20251124_000300_more",)


def test_crlf_conversion_is_not_drift(db_url: str, tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory)
    path = directory / "migrate/20251124_000100_create_users.up.sql"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert not sqlmig.apply(db_url, directory)


def test_row_without_file_is_reported(db_url: str, tmp_path: Path) -> None:
    # A file between known ones: not explained by a newer release (tests/faults/test_version_skew.py has that case).
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory)
    (directory / "migrate/20251124_000100_create_users.up.sql").unlink()
    with pytest.raises(sqlmig.MissingFileError, match="20251124_000100_create_users"):
        sqlmig.apply(db_url, directory)
    states = {e.name: e.state for e in sqlmig.status(db_url, directory).entries}
    assert states["20251124_000100_create_users"] == "missing"


def test_out_of_order_needs_permission(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory)
    tree(directory, {"migrate/20251124_000150_late.up.sql": "CREATE TABLE app.late (id int);\n"})
    with pytest.raises(sqlmig.OutOfOrderError, match="--allow-out-of-order"):
        sqlmig.apply(db_url, directory)
    assert sqlmig.apply(db_url, directory, allow_out_of_order=True).names == ("20251124_000150_late",)


def test_custom_history_table(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    sqlmig.apply(db_url, directory, history_table="ops.schema_log")
    assert db.execute("SELECT count(*) FROM ops.schema_log").fetchone() == (3,)
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)
    assert history_count(db, "ops.schema_log") == 3


def history_count(db: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def test_status_lists_both_tracks(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    directory = tree(tmp_path, FILES)
    report = sqlmig.status(db_url, directory)
    assert [(e.track, e.state) for e in report.entries] == [("migrate", "pending")] * 3 + [("seed", "pending")]
    assert len(report.pending) == 4 and not report.problems
    sqlmig.apply(db_url, directory)
    sqlmig.apply(db_url, directory, track="seed")
    assert not sqlmig.status(db_url, directory).pending
    assert history(db, "seed") == ["20251124_000001_default_data"]
