"""Fan-out: many tenant schemas of one database brought up to date in one process, each with its own history and
lock; a failed target leaves the others correct and its own history exact."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import sqlmig
from sqlmig import config
from sqlmig import render as render_module
from sqlmig.fanout.runner import up_all
from sqlmig.model import Direction, Migration, MigrationFile, SqlFile, TableName
from sqlmig.render import TemplateContext
from sqlmig.run import history
from sqlmig.run.lock import lock_key
from sqlmig.targets import Target

from .helpers import tree

pytestmark = pytest.mark.core
Conn = psycopg.Connection[tuple[object, ...]]

FILES = {
    "migrate/20240101_000000_schema.up.sql": "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n",
    "migrate/20240102_000000_items.up.sql": (
        "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY);\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items');\n"
    ),
    "migrate/20240103_000000_untemplated.up.sql": "INSERT INTO public.log VALUES ('-', 'untemplated');\n",
}


def settings(db_url: str, tmp_path: Path, **options: object) -> config.Settings:
    return config.load(database_url=db_url, directory=tmp_path, cwd=tmp_path, environ={}, **options)  # type: ignore[arg-type]


def target_rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT target, name FROM public.migration_history_targets ORDER BY target, name").fetchall()


@pytest.fixture
def project(db: Conn, tmp_path: Path) -> Path:
    db.execute("CREATE TABLE public.log (schema text, what text)")
    tree(tmp_path, dict(FILES))
    return tmp_path


NAMES = ["20240101_000000_schema", "20240102_000000_items", "20240103_000000_untemplated"]


def test_every_target_applied_once_with_its_own_history(db_url: str, db: Conn, project: Path) -> None:
    targets = [Target(s) for s in ("t1", "t2", "t3")]
    report = up_all(settings(db_url, project), targets, jobs=2)
    assert [(r.target, r.status, r.applied) for r in report.results] == [
        (t, "applied", tuple(NAMES)) for t in ("t1", "t2", "t3")
    ]
    assert target_rows(db) == [(t, n) for t in ("t1", "t2", "t3") for n in NAMES]
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)  # untouched
    logged = db.execute("SELECT schema, what FROM public.log ORDER BY 1, 2").fetchall()
    assert logged == [("-", "untemplated")] * 3 + [(t, "items") for t in ("t1", "t2", "t3")]
    again = up_all(settings(db_url, project), targets, jobs=2)
    assert [r.status for r in again.results] == ["current"] * 3 and again.ok


def test_a_single_target_history_is_left_as_it_is(db_url: str, db: Conn, project: Path) -> None:
    sqlmig.apply(db_url, project, schema="main")
    before = db.execute("SELECT name, checksum FROM public.migration_history ORDER BY id").fetchall()
    up_all(settings(db_url, project), [Target("t1")])
    assert db.execute("SELECT name, checksum FROM public.migration_history ORDER BY id").fetchall() == before
    assert sqlmig.status(db_url, project).pending == ()


def test_a_failed_target_leaves_the_others_correct_and_its_history_exact(db_url: str, db: Conn, project: Path) -> None:
    db.execute("CREATE SCHEMA t2; CREATE TABLE t2.items (conflict int)")  # the second migration fails there
    targets = [Target(s) for s in ("t1", "t2", "t3")]
    report = up_all(settings(db_url, project), targets, jobs=3)
    assert [r.status for r in report.results] == ["applied", "failed", "applied"]
    failed = report.failed[0]
    assert isinstance(failed.error, sqlmig.MigrationError) and failed.error.sqlstate == "42P07"
    assert failed.error.applied == ("20240101_000000_schema",)
    assert [n for t, n in target_rows(db) if t == "t2"] == ["20240101_000000_schema"]
    db.execute("DROP TABLE t2.items")
    rerun = up_all(settings(db_url, project), targets, jobs=3)
    assert [(r.target, r.status) for r in rerun.results] == [("t1", "current"), ("t2", "applied"), ("t3", "current")]
    assert rerun.results[1].applied == tuple(NAMES[1:])
    assert target_rows(db) == [(t, n) for t in ("t1", "t2", "t3") for n in NAMES]


@pytest.mark.parametrize(
    ("options", "statuses"),
    [
        ({"canary": 1}, ["failed", "skipped", "skipped", "skipped"]),
        ({"max_failures": 1, "jobs": 1}, ["failed", "skipped", "skipped", "skipped"]),
        ({"max_failures": 2, "jobs": 1}, ["failed", "applied", "applied", "applied"]),
        ({}, ["failed", "applied", "applied", "applied"]),
    ],
)
def test_canary_and_max_failures_stop_starting_targets(
    db_url: str, db: Conn, project: Path, options: dict[str, int], statuses: list[str]
) -> None:
    db.execute("CREATE SCHEMA t0; CREATE TABLE t0.items (conflict int)")
    targets = [Target(f"t{i}") for i in range(4)]
    report = up_all(settings(db_url, project), targets, **options)  # type: ignore[arg-type]
    assert [r.status for r in report.results] == statuses
    started = {t for t, _ in target_rows(db)}
    assert started == {f"t{i}" for i, s in enumerate(statuses) if s != "skipped"}


def test_names_that_need_quoting_or_try_injection(db_url: str, db: Conn, project: Path) -> None:
    names = ["Tenant-1", 'x"; DROP TABLE public.log; --', "o'brien"]
    report = up_all(settings(db_url, project), [Target(n) for n in names], jobs=3)
    assert report.ok, [r.error for r in report.failed]
    for name in names:
        found = db.execute("SELECT to_regclass(format('%%I.items', %s::text)) IS NOT NULL", (name,))
        assert found.fetchone() == (True,)
    assert {t for t, _ in target_rows(db)} == set(names)
    assert db.execute("SELECT count(*) FROM public.log WHERE what = 'items'").fetchone() == (3,)


def test_two_fanouts_at_once_run_each_migration_once_per_target(db_url: str, db: Conn, project: Path) -> None:
    targets = [Target(f"t{i}") for i in range(6)]
    reports: list[object] = []
    barrier = threading.Barrier(2)

    def fan_out() -> None:
        barrier.wait()
        reports.append(up_all(settings(db_url, project), targets, jobs=3))

    threads = [threading.Thread(target=fan_out) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(reports) == 2 and all(r.ok for r in reports)  # type: ignore[attr-defined]
    assert target_rows(db) == [(t.schema, n) for t in targets for n in NAMES]
    counts = db.execute("SELECT schema, count(*) FROM public.log WHERE what = 'items' GROUP BY 1 ORDER BY 1")
    assert counts.fetchall() == [(t.schema, 1) for t in targets]


def test_a_target_whose_lock_is_held_does_not_hold_up_the_others(db_url: str, db: Conn, project: Path) -> None:
    held = lock_key(TableName("public", "migration_history").for_target("t1"))
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (held,))
        report = up_all(settings(db_url, project, lock_wait=0.5), [Target("t1"), Target("t2")], jobs=2)
    assert [r.status for r in report.results] == ["failed", "applied"]
    assert isinstance(report.results[0].error, sqlmig.LockTimeout)


def test_files_without_template_syntax_are_rendered_and_split_once(
    db_url: str, db: Conn, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmig.run import runner

    rendered: list[str] = []
    real = runner.render

    def counting(
        file: MigrationFile, direction: Direction, context: TemplateContext, template: str | None = None
    ) -> Migration:
        rendered.append(file.name)
        return real(file, direction, context, template)

    reads: list[Path] = []
    real_read = render_module.read_checked

    def counting_reads(source: SqlFile) -> str:
        reads.append(source.path)
        return real_read(source)

    monkeypatch.setattr(runner, "render", counting)
    monkeypatch.setattr(render_module, "read_checked", counting_reads)
    monkeypatch.setattr(runner, "read_checked", counting_reads)
    report = up_all(settings(db_url, project), [Target(f"t{i}") for i in range(4)], jobs=2)
    assert report.ok
    assert sorted(set(rendered)) == NAMES
    assert [rendered.count(n) for n in NAMES] == [4, 4, 1]  # the untemplated file once, the templates per target
    assert sorted(p.name for p in reads) == sorted(f"{n}.up.sql" for n in NAMES)  # every file read once


NAMES_A = ["20240101_000000_a", "20240101_000000_B", "20240101_000000_a_b", "20240102_000000_é"]


@pytest.mark.parametrize(
    ("rows", "behind"),
    [
        pytest.param({"t1": NAMES_A}, ["t2"], id="exactly the files, and a target with no rows"),
        pytest.param({"t1": NAMES_A[:3], "t2": NAMES_A}, ["t1"], id="one pending"),
        pytest.param(
            {"t1": NAMES_A, "t2": [*NAMES_A, "20240103_000000_newer"]}, ["t2"], id="one applied by a newer release"
        ),
        pytest.param({"t1": NAMES_A, "t2": NAMES_A}, [], id="an up-to-date fleet returns nothing"),
    ],
)
def test_the_targets_behind_are_those_whose_rows_are_not_exactly_the_files(
    db_url: str, db: Conn, rows: dict[str, list[str]], behind: list[str]
) -> None:
    """The no-op check: one query returns the targets whose rows of the track differ from the files (names with
    case, accents and underscores must match exactly, whatever the collation), in the order the targets were given."""
    table = TableName("public", "migration_history")
    with psycopg.connect(db_url, autocommit=True) as conn:
        history.ensure(conn, table.for_target(""), "missing")
        for target, names in rows.items():
            for name in names:
                _record(conn, table.for_target(target), name, f"sum-{name}")
        _record(conn, table.for_target("t1"), "20240101_000000_seed", "any", track="seed")  # another track's row
        found = history.targets_behind(conn, table, ["t2", "t1"], ["migrate"], [_file(n) for n in NAMES_A])
    assert found == behind


CHANGES = {"edited": ("checksum", "other"), "partial": ("statements_done", 1), "no checksum": ("checksum", None)}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_target_with_a_changed_row_is_behind(db_url: str, db: Conn, change: str) -> None:
    table = TableName("public", "migration_history")
    with psycopg.connect(db_url, autocommit=True) as conn:
        history.ensure(conn, table.for_target(""), "missing")
        for target in ("t1", "t2"):
            for name in NAMES_A:
                _record(conn, table.for_target(target), name, f"sum-{name}")
        column, value = {
            "edited": ("checksum", "other"),
            "partial": ("statements_done", 1),
            "no checksum": ("checksum", None),
        }[change]
        last = "(SELECT max(id) FROM public.migration_history_targets WHERE target = 't2')"
        conn.execute(
            sql.SQL("UPDATE public.migration_history_targets SET {} = %s WHERE id = " + last).format(
                sql.Identifier(column)
            ),
            (value,),
        )
        found = history.targets_behind(conn, table, ["t1", "t2"], ["migrate"], [_file(n) for n in NAMES_A])
    assert found == ["t2"]


def test_targets_with_any_characters_are_matched_exactly(db_url: str, db: Conn) -> None:
    """The targets go to the server as one JSON document: quotes, backslashes, newlines and non-ASCII names must
    come back as they went."""
    odd = ['a"b', "c\\d", "new\nline", "é\u2028", "x'y", "Tenant", "tenant"]
    table = TableName("public", "migration_history")
    with psycopg.connect(db_url, autocommit=True) as conn:
        history.ensure(conn, table.for_target(""), "missing")
        for target in odd[::2]:
            for name in NAMES_A:
                _record(conn, table.for_target(target), name, f"sum-{name}")
        found = history.targets_behind(conn, table, odd, ["migrate"], [_file(n) for n in NAMES_A])
    assert found == odd[1::2]


def test_a_row_matches_a_file_of_its_own_track_only(db_url: str, db: Conn) -> None:
    """A migration and a seed of the same name and content are two files: one row does not stand for both."""
    table = TableName("public", "migration_history")
    name = NAMES_A[0]
    seed = MigrationFile("seed", name[:15], name, _file(name).up, None)
    with psycopg.connect(db_url, autocommit=True) as conn:
        history.ensure(conn, table.for_target(""), "missing")
        _record(conn, table.for_target("t1"), name, f"sum-{name}")
        found = history.targets_behind(conn, table, ["t1"], ["migrate", "seed"], [_file(name), seed])
    assert found == ["t1"]


def test_with_no_files_only_targets_with_rows_of_the_track_are_told_apart(db_url: str, db: Conn) -> None:
    table = TableName("public", "migration_history")
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert history.targets_behind(conn, table, ["t1"], ["migrate"], []) is None  # no targets' table yet
        history.ensure(conn, table.for_target(""), "missing")
        _record(conn, table.for_target("t1"), NAMES_A[0], "x")
        assert history.targets_behind(conn, table, ["t1", "t2"], ["migrate"], []) == ["t1", "t2"]


def _record(conn: Conn, table: TableName, name: str, checksum: str, track: str = "migrate") -> None:
    conn.execute(history.record_query(table), (name, track, name[:15], checksum, None, 1, "0"))


def _file(name: str) -> MigrationFile:
    up = SqlFile(Path(f"{name}.up.sql"), frozenset(), f"sum-{name}", False, 0)
    return MigrationFile("migrate", name[:15], name, up, None)


def test_a_target_with_a_partial_or_edited_row_is_run_and_told_apart(db_url: str, db: Conn, project: Path) -> None:
    targets = [Target("t1"), Target("t2"), Target("t3")]
    up_all(settings(db_url, project), targets)
    db.execute(
        "UPDATE public.migration_history_targets SET checksum = 'edited' WHERE target = 't2' AND name = %s", (NAMES[1],)
    )
    db.execute("DELETE FROM public.migration_history_targets WHERE target = 't3' AND name = %s", (NAMES[2],))
    report = up_all(settings(db_url, project), targets)
    assert [(r.target, r.status) for r in report.results] == [("t1", "current"), ("t2", "failed"), ("t3", "applied")]
    assert isinstance(report.results[1].error, sqlmig.DriftError)


def test_an_error_reading_the_targets_histories_names_the_database_not_a_given_connection(
    db_url: str, db: Conn, project: Path
) -> None:
    """apply_all opens the connection that chooses the targets and reads their histories: an error there is
    reported as one of the server sqlmig connected to, not of a connection the caller gave."""
    assert sqlmig.apply_all(db_url, project, schemas=["t1"]).ok
    db.execute("ALTER TABLE public.migration_history_targets DROP COLUMN statements_done")
    with pytest.raises(sqlmig.DatabaseError) as caught:
        sqlmig.apply_all(db_url, project, schemas=["t1"])
    assert "the given connection" not in str(caught.value)
    assert "statements_done" in str(caught.value)
