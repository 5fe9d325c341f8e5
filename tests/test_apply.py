"""sqlmig.apply() against real PostgreSQL: history, lock, no-op path, errors pointing into files."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main
from sqlmig.model import TableName
from sqlmig.run.lock import lock_key

from .helpers import history, relations, tree

LOCK_KEY = 4166341692659941701  # documented in docs/history-and-lock.md with its pg_locks classid/objid
A = "migrate/20240101_000000_create_a"
B = "migrate/20240102_000000_create_b"
C = "migrate/20240103_000000_create_c"


def basic(tmp_path: Path) -> Path:
    return tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.a (id int);\n",
            f"{A}.down.sql": "DROP TABLE public.a;\n",
            f"{B}.up.sql": "CREATE TABLE public.b (id int);\nCREATE INDEX b_id ON public.b (id);\n",
            f"{B}.down.sql": "DROP TABLE public.b;\n",
        },
    )


def test_apply_records_each_migration(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    report = sqlmig.apply(db_url, basic(tmp_path))
    assert report.names == ("20240101_000000_create_a", "20240102_000000_create_b")
    assert [r.direction for r in report.results] == ["up", "up"]
    assert history(db) == list(report.names)
    assert {"a", "b", "b_id"} <= relations(db)
    row = db.execute(
        "SELECT version, checksum, rendered_checksum, executed_by, sqlmig_version, duration_ms"
        " FROM public.migration_history ORDER BY id LIMIT 1"
    ).fetchone()
    assert row is not None
    assert row[0] == "20240101_000000" and len(str(row[1])) == 64 and row[1] == row[2]
    assert row[3] == db.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
    assert row[4] == sqlmig.__version__ and isinstance(row[5], int)


def test_second_run_applies_nothing_and_takes_no_lock(db_url: str, tmp_path: Path) -> None:
    directory = basic(tmp_path)
    assert len(sqlmig.apply(db_url, directory)) == 2
    # Another session holds the migration lock: a run that tried to take it would time out.
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key(TableName("public", "migration_history")),))
        report = sqlmig.apply(db_url, directory, lock_wait=0.2)
    assert not report and report.names == ()


def test_pending_work_waits_for_the_lock_and_names_the_holder(db_url: str, tmp_path: Path) -> None:
    directory = basic(tmp_path)
    with psycopg.connect(db_url, autocommit=True, application_name="deploy-7") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key(TableName("public", "migration_history")),))
        with pytest.raises(sqlmig.LockTimeout) as info:
            sqlmig.apply(db_url, directory, lock_wait=0.3)
        assert f"pid {other.info.backend_pid}" in str(info.value)
        assert "deploy-7" in str(info.value)
    with psycopg.connect(db_url, autocommit=True) as check:
        assert check.execute("SELECT to_regclass('public.a')").fetchone() == (None,)


def test_waiting_run_reports_the_holder_then_proceeds(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = basic(tmp_path)
    with psycopg.connect(db_url, autocommit=True, application_name="other-deploy") as other:
        key = lock_key(TableName("public", "migration_history"))
        other.execute("SELECT pg_advisory_lock(%s)", (key,))
        holder = other.info.backend_pid
        release = threading.Timer(1.6, lambda: other.execute("SELECT pg_advisory_unlock(%s)", (key,)))
        release.start()
        try:
            with caplog.at_level(logging.INFO, logger="sqlmig"):
                report = sqlmig.apply(db_url, directory, lock_wait=30)
        finally:
            release.join()
    assert len(report) == 2
    waiting = [r.getMessage() for r in caplog.records if "waiting for the migration lock" in r.getMessage()]
    assert waiting and f"pid {holder}" in waiting[0] and "other-deploy" in waiting[0]
    assert len(history(db)) == 2


def test_new_migration_after_earlier_run(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    directory = basic(tmp_path)
    sqlmig.apply(db_url, directory)
    tree(directory, {f"{C}.up.sql": "CREATE TABLE public.c (id int);\n"})
    assert sqlmig.apply(db_url, directory).names == ("20240103_000000_create_c",)
    assert len(history(db)) == 3


@pytest.mark.parametrize("variant", ["lf", "crlf", "utf8"])
def test_runtime_error_in_third_statement(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, variant: str
) -> None:
    prefix = "-- prüfung: ünïcödé çømment ✓\n" if variant == "utf8" else "-- plain comment\n"
    bad = (
        prefix
        + "CREATE TABLE public.c1 (id int);\n"
        + "INSERT INTO public.c1 VALUES (1);\n"
        + "\n"
        + "  INSERT INTO public.c1\n"
        + "  VALUES (1 / 0);\n"
        + "CREATE TABLE public.c2 (id int);\n"
    )
    if variant == "crlf":
        bad = bad.replace("\n", "\r\n")
    directory = basic(tmp_path)
    tree(directory, {f"{C}.up.sql": bad})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, directory)
    err = info.value
    assert err.path.name == "20240103_000000_create_c.up.sql"
    assert (err.line, err.column) == (5, 3)
    assert err.sqlstate == "22012" and "division by zero" in err.message
    assert err.statement.startswith("INSERT INTO public.c1\n  VALUES (1 / 0)")
    assert err.applied == ("20240101_000000_create_a", "20240102_000000_create_b")
    assert f"{err.path}:5:3" in str(err)
    # The failed migration left nothing behind; the earlier ones stay applied.
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_create_b"]
    assert "c1" not in relations(db) and {"a", "b"} <= relations(db)


def test_syntax_error_points_at_line_and_column(db_url: str, tmp_path: Path) -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n\nSELECT 1,\n       2 FROMM public.a;\n"})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    # "FROMM" parses as a column alias; the server stops at "public", column 16 of line 4.
    assert (info.value.line, info.value.column) == (4, 16)
    assert info.value.sqlstate == "42601" and '"public"' in info.value.message


def test_error_in_templated_file_points_into_the_template(db_url: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": (
                "{% for n in range(3) %}\nCREATE TABLE {{ schema }}.t{{ n }} (id int);\n{% endfor %}\n"
                "CREATE TABLE {{ schema }}.t1 (id int);\n"
            )
        },
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, schema="public")
    assert info.value.line == 4 and info.value.sqlstate == "42P07"


def test_deferred_error_at_commit_rolls_back(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": (
                "CREATE TABLE public.p (id int PRIMARY KEY);\n"
                "CREATE TABLE public.ch (pid int REFERENCES public.p DEFERRABLE INITIALLY DEFERRED);\n"
                "INSERT INTO public.ch VALUES (1);\n"
            )
        },
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.sqlstate == "23503"
    assert db.execute("SELECT to_regclass('public.p')").fetchone() == (None,)


def test_file_managing_its_own_transaction_is_refused_before_running(db_url: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.a (id int);\n",
            f"{B}.up.sql": "BEGIN;\nCREATE TABLE public.b (id int);\nCOMMIT;\n",
        },
    )
    with pytest.raises(sqlmig.DiscoveryError, match="no-transaction") as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.problems[0].line == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('public.a')").fetchone() == (None,)


def test_percent_signs_are_plain_sql(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": (
                "CREATE TABLE public.a (v text CHECK (v NOT LIKE '%%s%'));\nINSERT INTO public.a VALUES ('100%');\n"
            )
        },
    )
    sqlmig.apply(db_url, tmp_path)
    assert db.execute("SELECT v FROM public.a").fetchone() == ("100%",)


def test_session_settings_do_not_leak_between_migrations(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.a (id int);\n",
            f"{B}.up.sql": "CREATE TABLE b (id int);\n",
        },
    )
    sqlmig.apply(db_url, tmp_path)
    assert {"a", "b"} <= relations(db)
    assert len(history(db)) == 2


# The same file in each of the three ways a migration runs: one script, statement by statement in a transaction
# (a COPY), and without a transaction.
WAYS = {
    "script": "{sql}",
    "streamed": "{sql}CREATE TABLE IF NOT EXISTS public.c (id int);\nCOPY public.c (id) FROM stdin;\n1\n\\.\n",
    "no-transaction": "-- sqlmig: no-transaction\n{sql}",
}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "state",
    ["CREATE TEMP TABLE staging (id int);\n", "PREPARE q AS SELECT 1;\n"],
    ids=["temp-table", "prepared-statement"],
)
def test_each_migration_starts_in_a_fresh_session_state(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, way: str, state: str
) -> None:
    """A temporary table or prepared statement of one migration is gone in the next, as in a fresh psql session,
    so two migrations may use the same name."""
    text = WAYS[way].format(sql=state)
    tree(tmp_path, {f"{A}.up.sql": text, f"{B}.up.sql": text})
    report = sqlmig.apply(db_url, tmp_path)
    assert report.names == ("20240101_000000_create_a", "20240102_000000_create_b")


def test_session_reset_keeps_the_callers_prepared_statements(db_url: str, tmp_path: Path) -> None:
    """psycopg prepares a query it runs often on the caller's connection; the reset between migrations leaves
    those alone, so that the caller's queries still run after apply()."""
    tree(tmp_path, {f"{A}.up.sql": "PREPARE q AS SELECT 1;\n", f"{B}.up.sql": "PREPARE q AS SELECT 2;\n"})
    with psycopg.connect(db_url, autocommit=True, prepare_threshold=0) as conn:
        query = "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = %s"
        conn.execute(query, ("x",))
        assert conn.execute("SELECT count(*) FROM pg_catalog.pg_prepared_statements").fetchone() != (0,)
        assert len(sqlmig.apply(conn, tmp_path)) == 2
        assert conn.execute(query, ("x",)).fetchone() == (0,)
        names = [r[0] for r in conn.execute("SELECT name FROM pg_catalog.pg_prepared_statements", prepare=False)]
        assert "q" not in names


@pytest.mark.parametrize("single_transaction", [False, True], ids=["per-migration", "single-transaction"])
def test_duplicate_object_of_a_later_migration_is_not_blamed_on_a_lost_history(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, single_transaction: bool
) -> None:
    """On a fresh database, a second migration that creates what the first created fails, without the hint that
    the history was perhaps emptied and 'baseline' (which would record the broken migration as applied): the
    first migration of the same run created the object."""
    tree(
        tmp_path,
        {f"{A}.up.sql": "CREATE TABLE public.t (id int);\n", f"{B}.up.sql": "CREATE TABLE public.t (id int);\n"},
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, single_transaction=single_transaction)
    assert history(db) == ([] if single_transaction else ["20240101_000000_create_a"])
    assert info.value.sqlstate == "42P07"
    assert "has no migrate rows" not in str(info.value)
    assert "baseline" not in str(info.value)


def test_single_transaction_rolls_back_everything(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    directory = basic(tmp_path)
    tree(directory, {f"{C}.up.sql": "SELECT 1/0;\n"})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, directory, single_transaction=True)
    assert info.value.applied == ()
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() is not None
    assert history(db) == []
    assert "a" not in relations(db)
    (directory / f"{C}.up.sql").write_text("CREATE TABLE public.c (id int);\n")
    assert len(sqlmig.apply(db_url, directory, single_transaction=True)) == 3
    assert len(history(db)) == 3


def test_single_transaction_failure_says_the_whole_run_was_rolled_back(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    """With --single-transaction nothing is applied before the run's COMMIT: the progress lines do not say that a
    migration was applied, and the error of a later one says that the earlier ones were rolled back with it."""
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.t (id int);\n",
            f"{B}.up.sql": "CREATE TABLE public.u (id int);\nSELECT 1/0;\n",
        },
    )
    args = ["migrate", "up", "--single-transaction", "--database-url", db_url, "--dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,)
    assert "applied 20240101_000000_create_a" not in result.output
    assert "ran 20240101_000000_create_a (" in result.output and "applied when the run commits" in result.output
    assert (
        "--single-transaction: the whole run was rolled back with it, and none of its migrations is applied: "
        "20240101_000000_create_a, 20240102_000000_create_b; the database is as it was before the run"
    ) in result.output
    assert "20240102_000000_create_b was rolled back." in result.output
    assert "as it was before it." not in result.output
    tmp_path.joinpath(f"{B}.up.sql").write_text("CREATE TABLE public.u (id int);\n")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "committed the run (--single-transaction)" in result.output.splitlines()[-2]


def test_no_transaction_file_with_two_concurrent_index_builds(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.a (id int, v text);\n",
            f"{B}.up.sql": (
                "-- sqlmig: no-transaction\n"
                "CREATE INDEX CONCURRENTLY a_id ON public.a (id);\n"
                "CREATE INDEX CONCURRENTLY a_v ON public.a (v);\n"
            ),
        },
    )
    assert len(sqlmig.apply(db_url, tmp_path)) == 2
    assert {"a_id", "a_v"} <= relations(db)
    valid = db.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'public.a'::regclass").fetchone()
    assert valid == (True,)
    assert history(db)[-1] == "20240102_000000_create_b"


def test_concurrently_without_directive_fails_and_names_the_statement(db_url: str, tmp_path: Path) -> None:
    tree(
        tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\nCREATE INDEX CONCURRENTLY a_id ON public.a (id);\n"}
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.line == 2 and info.value.sqlstate == "25001"


def test_array_literal_with_no_template_runs_unchanged(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": (
                "-- sqlmig: no-template\n"
                "CREATE TABLE public.m (v int[]);\nINSERT INTO public.m VALUES ('{{1,2},{3,4}}'::int[]);\n"
            )
        },
    )
    sqlmig.apply(db_url, tmp_path)
    assert db.execute("SELECT v[2][1] FROM public.m").fetchone() == (3,)


def test_array_literal_without_directive_fails_before_anything_runs(db_url: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.a (id int);\n",
            f"{B}.up.sql": "SELECT 1;\nSELECT '{{1,2},{3,4}}'::int[];\n",
        },
    )
    with pytest.raises(sqlmig.RenderError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert info.value.line == 2 and "no-template" in str(info.value)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)


def test_undefined_variable_changes_nothing(db_url: str, tmp_path: Path) -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n", f"{B}.up.sql": "SELECT {{ nope }};\n"})
    with pytest.raises(sqlmig.RenderError, match="nope"):
        sqlmig.apply(db_url, tmp_path)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('public.a')").fetchone() == (None,)


def test_malicious_schema_is_quoted_by_ident(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE public.victim (id int)")
    tree(
        tmp_path,
        {
            f"{A}.up.sql": (
                "CREATE SCHEMA {{ schema | ident }};\n"
                "CREATE TABLE {{ schema | ident }}.items (label text DEFAULT {{ label | literal }});\n"
            )
        },
    )
    evil = 'x"; DROP TABLE public.victim; --'
    sqlmig.apply(db_url, tmp_path, schema=evil, vars={"label": "'); DROP TABLE public.victim; --"})
    assert "victim" in relations(db)
    assert "items" in relations(db, evil)


def test_vars_and_schema_render(db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path) -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE SCHEMA {{ schema }};\nCREATE TABLE {{ schema }}.{{ table }} (id int);\n"})
    sqlmig.apply(db_url, tmp_path, schema="tenant_1", vars={"table": "things"})
    assert "things" in relations(db, "tenant_1")


def test_connection_object_is_used_and_left_open(db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(db_url) as conn:
        report = sqlmig.apply(conn, basic(tmp_path))
        assert len(report) == 2 and not conn.closed and conn.autocommit is False
        assert conn.execute("SELECT count(*) FROM public.migration_history").fetchone() == (2,)


def test_connection_with_dict_rows(db_url: str, tmp_path: Path) -> None:
    from psycopg.rows import dict_row

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        assert len(sqlmig.apply(conn, basic(tmp_path))) == 2
        assert not sqlmig.apply(conn, basic(tmp_path))
        assert [e.state for e in sqlmig.status(conn, tmp_path).entries] == ["applied", "applied"]


def test_connection_inside_a_transaction_is_refused(db_url: str, tmp_path: Path) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(sqlmig.ConfigError, match="inside a transaction"):
            sqlmig.apply(conn, basic(tmp_path))


def test_unreachable_server_error_hides_the_password(tmp_path: Path) -> None:
    url = "postgresql://app:s3cr3t-Pa55@127.0.0.1:1/appdb?connect_timeout=2"
    with pytest.raises(sqlmig.ConnectError) as info:
        sqlmig.apply(url, basic(tmp_path))
    assert "s3cr3t-Pa55" not in str(info.value)
    assert "postgresql://app:***@127.0.0.1:1/appdb" in str(info.value)


def test_no_url_anywhere_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sqlmig.ConfigError, match="DATABASE_URL"):
        sqlmig.apply(None, basic(tmp_path))


def test_url_from_environment(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("DIRECT_URL", db_url)
    monkeypatch.chdir(tmp_path)
    assert len(sqlmig.apply(directory=basic(tmp_path))) == 2
    assert len(history(db)) == 2


def test_unknown_track_is_a_config_error(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(sqlmig.ConfigError, match="track must be one of migrate, seed"):
        sqlmig.apply(db_url, basic(tmp_path), track="seeds")  # type: ignore[arg-type]


def test_no_op_path_loads_neither_parser_nor_templates(db_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    directory = basic(tmp_path)
    tree(directory, {f"{C}.up.sql": "CREATE TABLE {{ schema }}.c (id int);\n"})
    sqlmig.apply(db_url, directory, schema="public")
    probe = (
        "import sys, sqlmig\n"
        f"assert not sqlmig.apply({db_url!r}, {str(directory)!r})\n"
        "print(sorted(m for m in ('pglast', 'jinja2', 'click') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lock_key_is_stable() -> None:
    # Instances of different sqlmig versions deploy side by side: the key must never change.
    key = lock_key(TableName("public", "migration_history"))
    assert key == LOCK_KEY
    assert lock_key(TableName("tenant", "migration_history")) != key


def test_failing_no_transaction_file_reports_what_stayed(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            f"{A}.up.sql": "CREATE TABLE public.a (id int);\n",
            f"{B}.up.sql": (
                "-- sqlmig: no-transaction\n"
                "CREATE INDEX CONCURRENTLY a_id ON public.a (id);\n"
                "CREATE INDEX CONCURRENTLY a_x ON public.a (no_such_column);\n"
            ),
        },
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    err = info.value
    assert (err.line, err.sqlstate, err.rolled_back, err.resumable) == (3, "42703", False, True)
    assert "its first 1 statement(s) stay applied and are recorded as done; up continues at statement 2" in str(err)
    assert "a_id" in relations(db) and history(db) == ["20240101_000000_create_a", "20240102_000000_create_b"]
    assert sqlmig.status(db_url, tmp_path).pending[0].state == "partial"


def test_error_in_streamed_file_points_at_its_line(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlmig.render

    monkeypatch.setattr(sqlmig.render, "STREAM_THRESHOLD", 100)
    inserts = "".join(f"INSERT INTO public.a VALUES ({i});\n" for i in range(50))
    tree(
        tmp_path,
        {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n" + inserts + "INSERT INTO public.a VALUES ('x');\n"},
    )
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert (info.value.line, info.value.column, info.value.sqlstate) == (52, 30, "22P02")
    assert db.execute("SELECT to_regclass('public.a')").fetchone() == (None,)


@pytest.mark.newest
def test_a_lone_carriage_return_in_a_template_runs_as_written(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    # Rendering keeps a lone CR: in a string literal it is part of the value, as in the same file without a template.
    up = "CREATE TABLE public.crs AS SELECT 'a\rb'::text AS plain, {{ 'c\rd' | literal }}::text AS rendered;\r\n"
    directory = tree(tmp_path, {f"{A}.up.sql": up.encode(), f"{A}.down.sql": "DROP TABLE public.crs;\n"})
    sqlmig.apply(db_url, directory)
    assert db.execute("SELECT plain, rendered FROM public.crs").fetchone() == ("a\rb", "c\rd")
