"""sqlmig explain against real PostgreSQL: the locks each statement takes, the relations it rewrites and its time,
measured on a scratch database that is always dropped; plus the pure parts (the lock and rewrite difference of
two readings, the text and JSON formats)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import sqlmig
from sqlmig import MigrationError
from sqlmig.cli.explain import explain_dict, explain_text
from sqlmig.explain import ExplainReport, FileExplained, LockTaken, StatementExplained, explain
from sqlmig.explain.probe import State, rewritten, taken

from .helpers import tree
from .pgcluster import PgServer
from .test_security import cli

# Runs on every PostgreSQL major (docs/testing.md): which locks a statement takes, and whether it rewrites, is the
# server's to decide and changes between majors.
# The locks and rewrites each statement makes are measured on every PostgreSQL major (docs/testing.md); explain's
# own logic (what is pending, errors, the scratch database, the command) on the oldest and the newest.
CORE = pytest.mark.core

BASE = "20240101_000000_items"
CHANGE = "20240102_000000_change"
BASE_UP = "CREATE TABLE public.items (id int PRIMARY KEY, title text NOT NULL);\n"


def scratch_databases(server: PgServer) -> set[str]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname ^@ 'sqlmig_explain_'").fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture
def url(pg_server: PgServer, db_url: str) -> Iterator[str]:
    """The URL of a new empty database (its history decides what is pending); after the test, no scratch database
    may be left on its server."""
    left_before = scratch_databases(pg_server)
    yield db_url
    assert scratch_databases(pg_server) <= left_before


def project(base: Path, change: str, *, no_transaction: bool = False) -> Path:
    """A migrations folder with the items table and ``change`` after it."""
    head = "-- sqlmig: no-transaction\n" if no_transaction else ""
    files = {f"migrate/{BASE}.up.sql": BASE_UP, f"migrate/{CHANGE}.up.sql": head + change}
    return tree(base, files)


def measured(report: ExplainReport, name: str = CHANGE) -> tuple[StatementExplained, ...]:
    return next(f.statements for f in report.files if f.name == name)


@CORE
def test_add_column_with_a_constant_default_takes_access_exclusive_and_rewrites_nothing(
    url: str, tmp_path: Path
) -> None:
    report = explain(url, project(tmp_path, "ALTER TABLE public.items ADD COLUMN price int NOT NULL DEFAULT 0;\n"))
    assert [f.name for f in report.files] == [BASE, CHANGE]  # no history: every migration is measured
    (statement,) = measured(report)
    assert statement.line == 1
    assert statement.statement == "ALTER TABLE public.items ADD COLUMN price int NOT NULL DEFAULT 0"
    assert statement.locks == (LockTaken("AccessExclusiveLock", "public.items"),)
    assert statement.rewrites == ()
    assert statement.duration_ms >= 0 and not statement.sampled


@CORE
def test_a_type_change_from_int_to_bigint_rewrites_the_table_and_its_index(url: str, tmp_path: Path) -> None:
    report = explain(url, project(tmp_path, "ALTER TABLE public.items ALTER COLUMN id TYPE bigint;\n"))
    (statement,) = measured(report)
    assert statement.rewrites == ("public.items", "public.items_pkey")
    assert LockTaken("AccessExclusiveLock", "public.items") in statement.locks


@CORE
def test_a_type_change_that_needs_no_rewrite_is_not_one(url: str, tmp_path: Path) -> None:
    report = explain(url, project(tmp_path, "ALTER TABLE public.items ALTER COLUMN title TYPE varchar;\n"))
    assert measured(report)[0].rewrites == ()


@CORE
def test_create_index_takes_a_share_lock(url: str, tmp_path: Path) -> None:
    report = explain(url, project(tmp_path, "CREATE INDEX items_title_idx ON public.items (title);\n"))
    (statement,) = measured(report)
    assert statement.locks[0] == LockTaken("ShareLock", "public.items")
    # The index itself is locked too, but nobody else can wait for a relation that did not exist before.
    assert all(lock.new for lock in statement.locks[1:])
    assert {lock.relation for lock in statement.locks[1:]} == {"public.items_title_idx"}


@CORE
def test_create_index_concurrently_takes_a_share_update_exclusive_lock(url: str, tmp_path: Path) -> None:
    change = "CREATE INDEX CONCURRENTLY items_title_idx ON public.items (title);\n"
    report = explain(url, project(tmp_path, change, no_transaction=True))
    (statement,) = measured(report)
    assert statement.sampled
    assert statement.locks[0] == LockTaken("ShareUpdateExclusiveLock", "public.items")
    assert "ShareLock" not in {lock.mode for lock in statement.locks if lock.relation == "public.items"}
    assert not report.files[1].transactional


def test_a_no_transaction_file_measures_each_statement_in_a_block_of_its_own(url: str, tmp_path: Path) -> None:
    change = (
        "ALTER TABLE public.items ADD COLUMN price int;\n"
        "CREATE INDEX CONCURRENTLY items_price_idx ON public.items (price);\n"
        "BEGIN;\nLOCK TABLE public.items IN SHARE MODE;\nLOCK TABLE public.items IN SHARE MODE;\nCOMMIT;\n"
        "VACUUM public.items;\n"
        "DO $$ BEGIN UPDATE public.items SET price = 1; COMMIT; END $$;\n"
    )
    statements = measured(explain(url, project(tmp_path, change, no_transaction=True)))
    assert [s.line for s in statements] == [2, 3, 4, 5, 6, 7, 8, 9]
    # CREATE INDEX CONCURRENTLY and VACUUM are refused in a transaction block, and a DO block that commits fails
    # in one: they run alone, watched.
    assert [s.sampled for s in statements] == [False, True, False, False, False, False, True, True]
    assert statements[0].locks == (LockTaken("AccessExclusiveLock", "public.items"),)
    assert statements[3].locks == (LockTaken("ShareLock", "public.items"),)
    assert statements[4].locks == ()  # in the file's own block, the lock is held from before: not taken again


@CORE
def test_a_lock_held_from_before_in_the_same_transaction_is_not_taken_again(url: str, tmp_path: Path) -> None:
    change = (
        "ALTER TABLE public.items ADD COLUMN a int;\n"
        "ALTER TABLE public.items ADD COLUMN b int;\n"
        "UPDATE public.items SET a = 1;\n"
    )
    statements = measured(explain(url, project(tmp_path, change)))
    assert statements[0].locks == (LockTaken("AccessExclusiveLock", "public.items"),)
    assert statements[1].locks == ()
    # The UPDATE's RowExclusiveLock on the table blocks nobody that the AccessExclusiveLock does not already block.
    assert "public.items" not in {lock.relation for lock in statements[2].locks}


@CORE
def test_a_foreign_key_locks_the_table_it_references(url: str, tmp_path: Path) -> None:
    change = "CREATE TABLE public.tags (id int PRIMARY KEY, item int REFERENCES public.items);\n"
    (statement,) = measured(explain(url, project(tmp_path, change)))
    assert statement.locks[0] == LockTaken("ShareRowExclusiveLock", "public.items")
    # The table's own weaker locks are covered by its AccessExclusiveLock: only the strongest is listed.
    assert [(lock.mode, lock.relation) for lock in statement.locks if lock.new] == [
        ("AccessExclusiveLock", "public.tags"),
        ("AccessExclusiveLock", "public.tags_pkey"),
    ]


def test_a_migration_applied_on_the_database_is_applied_first_and_not_measured(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "ALTER TABLE public.items ADD COLUMN price int;\n")
    (tmp_path / "migrate" / f"{CHANGE}.up.sql").rename(tmp_path / "later")
    sqlmig.apply(url, directory)
    (tmp_path / "later").rename(tmp_path / "migrate" / f"{CHANGE}.up.sql")
    report = explain(url, directory)
    assert report.applied == (BASE,)
    assert [f.name for f in report.files] == [CHANGE]  # it met the table the applied migration made
    with psycopg.connect(url) as conn:  # the database itself is not changed
        assert conn.execute("SELECT count(*) FROM public.migration_history").fetchone() == (1,)


def test_seeds_are_measured_after_the_migrations_with_their_copy_data(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "ALTER TABLE public.items ADD COLUMN price int;\n")
    seed = "COPY public.items (id, title) FROM stdin;\n1\tone\n2\ttwo\n\\.\nUPDATE public.items SET price = id;\n"
    tree(directory, {"seed/20240103_000000_items.up.sql": seed})
    assert [f.name for f in explain(url, directory).files] == [BASE, CHANGE]  # the seeds only when asked
    report = explain(url, directory, seeds=True)
    assert [(f.track, f.name) for f in report.files] == [
        ("migrate", BASE),
        ("migrate", CHANGE),
        ("seed", "20240103_000000_items"),
    ]
    copy, update = measured(report, "20240103_000000_items")
    assert (copy.line, update.line) == (1, 5)
    assert copy.locks[0] == LockTaken("RowExclusiveLock", "public.items")
    # The COPY's RowExclusiveLock on the table is held from before: the UPDATE does not take it again.
    assert "public.items" not in {lock.relation for lock in update.locks}


def test_an_applied_migration_that_fails_on_the_scratch_database_says_so(url: str, tmp_path: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn:  # made by hand, outside the migrations
        conn.execute("CREATE TABLE public.made_by_hand (id int)")
    directory = tree(tmp_path, {f"migrate/{BASE}.up.sql": "ALTER TABLE public.made_by_hand ADD COLUMN x int;\n"})
    sqlmig.apply(url, directory)
    tree(directory, {f"migrate/{CHANGE}.up.sql": "SELECT 1;\n"})
    with pytest.raises(MigrationError) as caught:
        explain(url, directory)
    assert (caught.value.name, caught.value.line, caught.value.sqlstate) == (BASE, 1, "42P01")
    assert "explain applies it on the scratch database first, unmeasured" in str(caught.value)


def test_nothing_pending_is_an_empty_report(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "SELECT 1;\n")
    sqlmig.apply(url, directory)
    assert explain(url, directory) == ExplainReport((), (BASE, CHANGE))


def test_templates_are_rendered_and_lines_are_those_of_the_file(url: str, tmp_path: Path) -> None:
    change = "-- a comment\n{% for c in ['a', 'b'] %}\nALTER TABLE {{ schema | ident }}.items ADD COLUMN {{ c }} int;\n"
    report = explain(url, project(tmp_path, change + "{% endfor %}\n"), schema="public")
    statements = measured(report)
    assert [s.statement for s in statements] == [
        'ALTER TABLE "public".items ADD COLUMN a int',
        'ALTER TABLE "public".items ADD COLUMN b int',
    ]
    assert [s.line for s in statements] == [3, 3]


def test_a_failing_migration_names_its_file_and_line_and_the_scratch_database_is_dropped(
    url: str, tmp_path: Path
) -> None:
    change = "ALTER TABLE public.items ADD COLUMN price int;\nALTER TABLE public.nope ADD COLUMN x int;\n"
    with pytest.raises(MigrationError) as caught:
        explain(url, project(tmp_path, change))
    error = caught.value
    assert (error.path, error.line, error.sqlstate) == (tmp_path / "migrate" / f"{CHANGE}.up.sql", 2, "42P01")
    assert "scratch database, which is dropped: the database was not changed" in str(error)
    # The fixture checks that no scratch database is left.


def test_the_scratch_database_is_named_for_explain(url: str, tmp_path: Path) -> None:
    """Its name says what made it, should one ever be left behind (verify's are ``sqlmig_verify_…``)."""
    change = "DO $$ BEGIN RAISE EXCEPTION 'in %', current_database(); END $$;\n"
    with pytest.raises(MigrationError) as caught:
        explain(url, project(tmp_path, change))
    assert re.fullmatch(r"in sqlmig_explain_[0-9a-f]{12}", caught.value.message)


def test_a_failing_no_transaction_statement_names_its_line(url: str, tmp_path: Path) -> None:
    change = "CREATE INDEX CONCURRENTLY i ON public.items (title);\nCREATE INDEX CONCURRENTLY j ON public.nope (x);\n"
    with pytest.raises(MigrationError) as caught:
        explain(url, project(tmp_path, change, no_transaction=True))
    assert (caught.value.line, caught.value.sqlstate) == (3, "42P01")


def test_a_no_transaction_file_that_ends_inside_its_own_block_is_refused(url: str, tmp_path: Path) -> None:
    change = "BEGIN;\nALTER TABLE public.items ADD COLUMN price int;\n"
    with pytest.raises(MigrationError, match="ends inside a transaction block it opened") as caught:
        explain(url, project(tmp_path, change, no_transaction=True))
    assert caught.value.path == tmp_path / "migrate" / f"{CHANGE}.up.sql"


def test_the_command_prints_a_table_per_file(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "ALTER TABLE public.items ADD COLUMN price int NOT NULL DEFAULT 0;\n")
    result = cli("explain", "--database-url", url, "--dir", str(directory))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"migrate {CHANGE} (in one transaction)" in lines
    row = next(line for line in lines if "ADD COLUMN" in line).split()
    assert row[0] == "1" and float(row[1]) >= 0
    assert row[-2:] == ["public.items", "-"] and row[-3] == "AccessExclusiveLock"
    assert lines[-1] == "explained 2 migration(s) on a scratch database"


def test_the_command_prints_json(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "ALTER TABLE public.items ALTER COLUMN id TYPE bigint;\n")
    result = cli("explain", "--database-url", url, "--dir", str(directory), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["command"], document["ok"], document["exit_code"], document["applied"]) == (
        "explain",
        True,
        0,
        [],
    )
    statement = document["files"][1]["statements"][0]
    assert statement["rewrites"] == ["public.items", "public.items_pkey"]
    assert {"mode": "AccessExclusiveLock", "relation": "public.items", "new": False} in statement["locks"]


def test_the_command_exits_1_naming_the_file_and_line(url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "SELECT 1;\nSELECT 1/0;\n")
    result = cli("explain", "--database-url", url, "--dir", str(directory), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert (error["line"], error["sqlstate"]) == (2, "22012")
    assert error["path"].endswith(f"{CHANGE}.up.sql")


# The pure parts.

ITEMS, INDEX, GONE, NEW = 16400, 16401, 16402, 16403
BEFORE = State({ITEMS: ("public.items", 1), INDEX: ("public.items_pkey", 2), GONE: ("public.old", 3)}, frozenset())


def test_taken_names_the_new_locks_strongest_first() -> None:
    after = State({ITEMS: ("public.items", 1), INDEX: ("public.items_pkey", 2), NEW: ("public.t", 4)}, frozenset())
    held = {(ITEMS, "ShareLock"), (ITEMS, "AccessExclusiveLock"), (GONE, "AccessExclusiveLock"), (NEW, "ShareLock")}
    held |= {(99999, "AccessShareLock")}  # a relation found in neither reading (a toast table): left out
    before = State(BEFORE.relations, frozenset({(ITEMS, "ShareLock")}))
    assert taken(held, before, after, BEFORE.relations) == (
        LockTaken("AccessExclusiveLock", "public.items"),
        LockTaken("AccessExclusiveLock", "public.old"),
        LockTaken("ShareLock", "public.t", new=True),
    )


def test_a_lock_covered_by_a_stronger_one_on_the_same_relation_is_left_out() -> None:
    held = {(ITEMS, "AccessExclusiveLock"), (ITEMS, "ShareLock"), (INDEX, "ShareLock"), (INDEX, "RowExclusiveLock")}
    before = State(BEFORE.relations, frozenset({(INDEX, "ShareLock")}))
    # ShareLock does not cover RowExclusiveLock: it lets other ShareLocks (CREATE INDEX) in, RowExclusiveLock not.
    assert taken(held, before, before, BEFORE.relations) == (
        LockTaken("AccessExclusiveLock", "public.items"),
        LockTaken("RowExclusiveLock", "public.items_pkey"),
    )
    held = {(ITEMS, "ShareRowExclusiveLock"), (ITEMS, "ShareLock"), (ITEMS, "AccessShareLock")}
    assert taken(held, BEFORE, BEFORE, BEFORE.relations) == (LockTaken("ShareRowExclusiveLock", "public.items"),)


def test_rewritten_is_a_changed_relfilenode_of_a_relation_that_stays() -> None:
    after = State({ITEMS: ("public.items", 10), INDEX: ("public.items_pkey", 2), NEW: ("public.v", 0)}, frozenset())
    assert rewritten(BEFORE, after) == ("public.items",)
    # An index dropped and built again under its name in the statement (a column's type change) is rebuilt too.
    rebuilt = State({ITEMS: ("public.items", 1), NEW: ("public.items_pkey", 5)}, frozenset())
    assert rewritten(BEFORE, rebuilt) == ("public.items_pkey",)
    view = State({NEW: ("public.v", 0)}, frozenset())
    assert rewritten(view, State({NEW: ("public.v", 0)}, frozenset())) == ()


SAMPLE = ExplainReport(
    (
        FileExplained(
            "migrate",
            CHANGE,
            Path("/nowhere/x.up.sql"),
            True,
            (
                StatementExplained(
                    1,
                    "ALTER TABLE public.t ALTER COLUMN id TYPE bigint, ALTER COLUMN title SET NOT NULL",
                    12.345,
                    (LockTaken("AccessExclusiveLock", "public.t"),),
                    ("public.t", "public.t_pkey"),
                ),
                StatementExplained(
                    3,
                    "CREATE INDEX i ON public.t (title)",
                    1.0,
                    (LockTaken("ShareLock", "public.t"), LockTaken("AccessExclusiveLock", "public.i", new=True)),
                ),
            ),
        ),
        FileExplained(
            "migrate",
            "20240103_000000_concurrently",
            Path("/nowhere/y.up.sql"),
            False,
            (StatementExplained(2, "VACUUM public.t", 3.0, (), (), sampled=True),),
        ),
    ),
    (BASE,),
)


def test_the_text_is_a_table_per_file() -> None:
    assert explain_text(SAMPLE) == (
        f"migrate {CHANGE} (in one transaction)\n"
        "  line    ms  statement                                                 "
        "locks taken                         rewrote\n"
        "     1  12.3  ALTER TABLE public.t ALTER COLUMN id TYPE bigint, ALTER…  "
        "AccessExclusiveLock public.t        public.t\n"
        "                                                                        "
        "                                    public.t_pkey\n"
        "     3   1.0  CREATE INDEX i ON public.t (title)                        "
        "ShareLock public.t                  -\n"
        "                                                                        "
        "AccessExclusiveLock public.i (new)\n"
        "\n"
        "migrate 20240103_000000_concurrently (no-transaction: each statement on its own)\n"
        "  line    ms  statement        locks taken  rewrote\n"
        "     2  3.0*  VACUUM public.t  -            -\n"
        "* ran outside a transaction block: its locks were sampled from other sessions while it ran\n"
        "explained 2 migration(s) on a scratch database; 1 already applied on the database, not measured\n"
    )
    assert explain_text(ExplainReport((), (BASE,))) == (
        "nothing pending: nothing to explain; 1 already applied on the database, not measured\n"
    )


def test_the_json_lists_every_statement() -> None:
    data = explain_dict(SAMPLE)
    assert data["applied"] == [BASE]
    assert data["files"][0]["statements"][1] == {
        "line": 3,
        "statement": "CREATE INDEX i ON public.t (title)",
        "duration_ms": 1.0,
        "locks": [
            {"mode": "ShareLock", "relation": "public.t", "new": False},
            {"mode": "AccessExclusiveLock", "relation": "public.i", "new": True},
        ],
        "rewrites": [],
        "sampled": False,
    }
    assert data["files"][1]["transactional"] is False


def test_a_watch_that_fails_to_stop_does_not_hide_the_statements_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sampler's own session failing (here as it connects) must not replace the error of the statement it
    watched: that is what the user needs to see."""
    from sqlmig import config
    from sqlmig.errors import ConnectError
    from sqlmig.explain import watch

    def fail(self: watch.Watch) -> None:
        raise ConnectError("the sampler's session could not connect")

    monkeypatch.setattr(watch.Watch, "start", lambda self: None)
    monkeypatch.setattr(watch.Watch, "stop", fail)
    with pytest.raises(ValueError, match="the statement's own error"), watch.watching(config.Settings(), 1):
        raise ValueError("the statement's own error")
