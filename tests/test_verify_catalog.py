"""What sqlmig.verify's catalog compares, on real PostgreSQL: for each kind of setting, a down that forgets exactly
that setting is reported once, with a readable line, and a down that restores it is clean. Also: a leftover is
reported at the migration whose down left it and not again at an older one, a function's changes are named
attribute by attribute, and the pure halves (leftovers.explained, changes.describe) on their own."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sqlmig.cli.reports import verify_text
from sqlmig.verify import catalog, changes, leftovers
from sqlmig.verify import scratch as verify

from . import test_verify
from .pgcluster import PgServer
from .test_verify import READER, migrations

server_url = test_verify.server_url  # the fixture: no scratch database may be left after a test

# On every PostgreSQL major (docs/testing.md), the kinds whose catalog columns differ between majors (the
# statistics target's default, compression, publications' row filters, replica identity, pg_proc's attributes)
# and the cross-major checks; the others on the newest only.
CORE = pytest.mark.core

BASE = "20240101_000000_items"
MIDDLE = "20240102_000000_middle"
CHANGE = "20240103_000000_change"
# A table with an expression index, a trigger and its function, a set-returning function and a publication: the
# changes under test alter them. The middle migration touches the same table, so that the newest down's
# leftover could show again in its comparisons if verify did not know it for one.
BASE_UP = """CREATE TABLE public.items (id int PRIMARY KEY, title text NOT NULL);
CREATE INDEX items_lower ON public.items (lower(title));
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER items_touch BEFORE UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.touch();
CREATE FUNCTION public.pick(x int) RETURNS SETOF int LANGUAGE sql AS 'SELECT x';
CREATE PUBLICATION items_pub;
"""
BASE_DOWN = """DROP PUBLICATION items_pub;
DROP FUNCTION public.pick(int);
DROP TABLE public.items;
DROP FUNCTION public.touch();
"""
MIDDLE_UP = "ALTER TABLE public.items ADD COLUMN m int;\n"
MIDDLE_DOWN = "ALTER TABLE public.items DROP COLUMN m;\n"
TOUCH = "CREATE OR REPLACE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql"
TOUCH_BODY = "AS $$ BEGIN RETURN NEW; END $$;\n"
LOWER_BODY = "AS $$\nBEGIN\n  NEW.title := lower(NEW.title);\n  RETURN NEW;\nEND\n$$;\n"
PICK = "CREATE OR REPLACE FUNCTION public.pick(x int) RETURNS SETOF int LANGUAGE sql AS 'SELECT x';\n"


@pytest.fixture
def owner(pg_server: PgServer) -> str:
    """The role the tests connect as, which owns what the migrations create; and READER exists, to be granted to."""
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(READER)))
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    return str(row[0])


def project(tmp_path: Path, up: str, down: str, middle: tuple[str, str] = (MIDDLE_UP, MIDDLE_DOWN)) -> Path:
    return migrations(tmp_path, {BASE: (BASE_UP, BASE_DOWN), MIDDLE: middle, CHANGE: (up, down)})


# (up, a down that undoes it, a down that forgets the setting, its diff): one row per kind of setting. "{owner}"
# is the role the tests connect as; a line ending in " …" is the start of the line expected.
FORGET = "SELECT 1;\n"
KINDS = [
    pytest.param(
        "ALTER TABLE public.items REPLICA IDENTITY FULL;\n",
        "ALTER TABLE public.items REPLICA IDENTITY DEFAULT;\n",
        FORGET,
        ["+ table public.items replica identity full"],
        id="replica-identity-full",
        marks=CORE,
    ),
    pytest.param(
        "CREATE UNIQUE INDEX items_title_key ON public.items (title);\n"
        "ALTER TABLE public.items REPLICA IDENTITY USING INDEX items_title_key;\n",
        "ALTER TABLE public.items REPLICA IDENTITY DEFAULT;\nDROP INDEX public.items_title_key;\n",
        "DROP INDEX public.items_title_key;\n",
        ["+ table public.items replica identity using a dropped index (as nothing)"],
        id="replica-identity-index",
    ),
    pytest.param(
        "ALTER TABLE public.items ALTER COLUMN title SET STATISTICS 500;\n",
        "ALTER TABLE public.items ALTER COLUMN title SET STATISTICS -1;\n",
        FORGET,
        ["~ table public.items column title before: text not null after: text not null statistics 500"],
        id="column-statistics",
        marks=CORE,
    ),
    pytest.param(
        "ALTER INDEX public.items_lower ALTER COLUMN 1 SET STATISTICS 300;\n",
        "ALTER INDEX public.items_lower ALTER COLUMN 1 SET STATISTICS -1;\n",
        FORGET,
        [
            "~ table public.items index items_lower"
            " before: CREATE INDEX items_lower ON public.items USING btree (lower(title))"
            " after: CREATE INDEX items_lower ON public.items USING btree (lower(title)) (statistics column 1 300)"
        ],
        id="index-statistics",
        marks=CORE,
    ),
    pytest.param(
        "ALTER TABLE public.items ALTER COLUMN title SET STORAGE EXTERNAL;\n",
        "ALTER TABLE public.items ALTER COLUMN title SET STORAGE EXTENDED;\n",
        FORGET,
        ["~ table public.items column title before: text not null after: text not null storage external"],
        id="column-storage",
    ),
    pytest.param(
        "ALTER TABLE public.items ALTER COLUMN title SET COMPRESSION pglz;\n",
        "ALTER TABLE public.items ALTER COLUMN title SET COMPRESSION default;\n",
        FORGET,
        ["~ table public.items column title before: text not null after: text not null compression pglz"],
        id="column-compression",
        marks=CORE,
    ),
    pytest.param(
        "ALTER TABLE public.items ALTER COLUMN title SET (n_distinct = 100);\n",
        "ALTER TABLE public.items ALTER COLUMN title RESET (n_distinct);\n",
        FORGET,
        ["~ table public.items column title before: text not null after: text not null with (n_distinct=100)"],
        id="column-options",
    ),
    pytest.param(
        "ALTER TABLE public.items SET (fillfactor = 70);\n",
        "ALTER TABLE public.items RESET (fillfactor);\n",
        FORGET,
        ["~ table public.items before: owner {owner} after: owner {owner}, with (fillfactor=70)"],
        id="fillfactor",
    ),
    pytest.param(
        "ALTER TABLE public.items SET (toast.autovacuum_enabled = false);\n",
        "ALTER TABLE public.items RESET (toast.autovacuum_enabled);\n",
        FORGET,
        ["~ table public.items before: owner {owner} after: owner {owner}, with toast (autovacuum_enabled=false)"],
        id="toast-options",
    ),
    pytest.param(
        "ALTER TABLE public.items CLUSTER ON items_pkey;\n",
        "ALTER TABLE public.items SET WITHOUT CLUSTER;\n",
        FORGET,
        [
            "~ table public.items index items_pkey"
            " before: CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)"
            " after: CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id) (clustered)"
        ],
        id="cluster-on",
    ),
    pytest.param(
        "ALTER TABLE public.items FORCE ROW LEVEL SECURITY;\n",
        "ALTER TABLE public.items NO FORCE ROW LEVEL SECURITY;\n",
        FORGET,
        ["~ table public.items before: owner {owner} after: owner {owner}, row level security forced"],
        id="row-level-security-forced",
    ),
    pytest.param(
        "ALTER TABLE public.items DISABLE TRIGGER items_touch;\n",
        "ALTER TABLE public.items ENABLE TRIGGER items_touch;\n",
        FORGET,
        [
            "~ table public.items trigger items_touch before: CREATE TRIGGER items_touch BEFORE UPDATE ON public.items"
            " FOR EACH ROW EXECUTE FUNCTION public.touch() after: CREATE TRIGGER items_touch BEFORE UPDATE ON"
            " public.items FOR EACH ROW EXECUTE FUNCTION public.touch() (disabled)"
        ],
        id="trigger-disabled",
    ),
    pytest.param(
        "COMMENT ON COLUMN public.items.title IS 'what the buyer sees';\n",
        "COMMENT ON COLUMN public.items.title IS NULL;\n",
        FORGET,
        ["+ comment on table column public.items.title what the buyer sees"],
        id="column-comment",
    ),
    pytest.param(
        f"ALTER TABLE public.items OWNER TO {READER};\n",
        "ALTER TABLE public.items OWNER TO CURRENT_USER;\n",
        FORGET,
        [
            f"~ table public.items before: owner {{owner}} after: owner {READER}",
            "- table public.items grant to {owner} DELETE, INSERT, …",
            f"+ table public.items grant to {READER} DELETE, INSERT, …",
        ],
        id="owner",
    ),
    pytest.param(
        "ALTER PUBLICATION items_pub ADD TABLE public.items;\n",
        "ALTER PUBLICATION items_pub DROP TABLE public.items;\n",
        FORGET,
        ["+ table public.items publication items_pub member"],
        id="publication",
        marks=CORE,
    ),
    pytest.param(
        f"{TOUCH} STABLE SET search_path = pg_catalog {TOUCH_BODY}",
        f"{TOUCH} {TOUCH_BODY}",
        FORGET,
        ["~ function public.touch(): volatility VOLATILE → STABLE; SET search_path: (none) → pg_catalog"],
        id="function-attributes",
    ),
    pytest.param(
        "CREATE OR REPLACE FUNCTION public.pick(x int DEFAULT 1) RETURNS SETOF int LANGUAGE sql IMMUTABLE STRICT"
        " LEAKPROOF PARALLEL SAFE COST 5 ROWS 10 SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT x';\n",
        f"DROP FUNCTION public.pick(int);\n{PICK}",
        FORGET,
        [
            "~ function public.pick(x integer): arguments x integer → x integer DEFAULT 1;"
            " volatility VOLATILE → IMMUTABLE; strict no → yes; security INVOKER → DEFINER; leakproof no → yes;"
            " parallel UNSAFE → SAFE; cost 100 → 5; rows 1000 → 10; SET search_path: (none) → pg_catalog"
        ],
        id="function-more-attributes",
        marks=CORE,
    ),
    pytest.param(
        "DROP FUNCTION public.pick(int);\nCREATE FUNCTION public.pick(x int) RETURNS SETOF bigint LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEXT x; END $$;\n",
        f"DROP FUNCTION public.pick(int);\n{PICK}",
        FORGET,
        [
            "~ function public.pick(x integer): returns SETOF integer → SETOF bigint; language sql → plpgsql;"
            " body changed",
            "    @@ -1 +1 @@",
            "    -SELECT x",
            "    + BEGIN RETURN NEXT x; END ",
        ],
        id="function-result-and-language",
    ),
    pytest.param(
        f"{TOUCH} {LOWER_BODY}",
        f"{TOUCH} {TOUCH_BODY}",
        FORGET,
        [
            "~ function public.touch(): body changed",
            "    @@ -1 +1,5 @@",
            "    - BEGIN RETURN NEW; END ",
            "    +",
            "    +BEGIN",
            "    +  NEW.title := lower(NEW.title);",
            "    +  RETURN NEW;",
            "    +END",
        ],
        id="function-body",
    ),
]
# The other kinds read catalog columns that no major changed: sqlmig's own logic, on the newest only.
KINDS = [k if CORE in k.marks else pytest.param(*k.values, id=k.id, marks=pytest.mark.newest) for k in KINDS]


def matches(lines: tuple[str, ...], expected: list[str], owner: str) -> bool:
    wanted = [line.replace("{owner}", owner) for line in expected]
    return len(lines) == len(wanted) and all(
        line.startswith(w[:-1]) if w.endswith(" …") else line == w for line, w in zip(lines, wanted, strict=True)
    )


@pytest.mark.parametrize(("up", "down", "forgetful", "expected"), KINDS)
def test_down_that_forgets_a_setting_is_reported_once(
    server_url: str, tmp_path: Path, owner: str, up: str, down: str, forgetful: str, expected: list[str]
) -> None:
    report = verify.verify(server_url, project(tmp_path, up, forgetful))
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", CHANGE)], verify_text(report)
    assert matches(report.problems[0].diff, expected, owner), report.problems[0].diff
    assert report.checked == (BASE, MIDDLE, CHANGE)


@pytest.mark.parametrize(("up", "down", "forgetful", "expected"), KINDS)
def test_down_that_restores_a_setting_is_clean(
    server_url: str, tmp_path: Path, owner: str, up: str, down: str, forgetful: str, expected: list[str]
) -> None:
    report = verify.verify(server_url, project(tmp_path, up, down))
    assert report.ok, verify_text(report)
    assert report.checked == (BASE, MIDDLE, CHANGE)


@CORE
def test_replica_identity_index_shown_by_name(db: psycopg.Connection[tuple[object, ...]]) -> None:
    db.execute(BASE_UP)
    db.execute("CREATE UNIQUE INDEX items_title_key ON public.items (title)")
    db.execute("ALTER TABLE public.items REPLICA IDENTITY USING INDEX items_title_key")
    assert catalog.snapshot(db)["table public.items replica identity"] == "using index items_title_key"
    db.execute("ALTER TABLE public.items REPLICA IDENTITY NOTHING")
    assert catalog.snapshot(db)["table public.items replica identity"] == "nothing"


@CORE
def test_default_statistics_target_is_the_same_on_every_major(db: psycopg.Connection[tuple[object, ...]]) -> None:
    # PostgreSQL 17 stores the default as NULL, older majors as -1; -1 given on 17 and later is stored as NULL.
    db.execute(BASE_UP)
    fresh = catalog.snapshot(db)
    db.execute("ALTER TABLE public.items ALTER COLUMN title SET STATISTICS 0")
    assert catalog.snapshot(db)["table public.items column title"] == "text not null statistics 0"
    db.execute("ALTER TABLE public.items ALTER COLUMN title SET STATISTICS -1")
    query = "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'public.items'::regclass AND attname = 'title'"
    stored = db.execute(query).fetchone()
    assert stored == ((None,) if db.info.server_version >= 170000 else (-1,))
    assert catalog.snapshot(db) == fresh


LEFTOVERS = [
    pytest.param(
        (MIDDLE_UP, MIDDLE_DOWN),
        ("ALTER TABLE public.items ADD COLUMN n int;\n", FORGET),
        ["+ table public.items column n integer", "~ table public.items column order before: id, title, m after: …"],
        id="column-order",
    ),
    pytest.param(
        (f"GRANT SELECT ON public.items TO {READER};\n", f"REVOKE SELECT ON public.items FROM {READER};\n"),
        (f"GRANT INSERT ON public.items TO {READER};\n", FORGET),
        [f"~ table public.items grant to {READER} before: SELECT after: INSERT, SELECT"],
        id="grant",
    ),
    pytest.param(
        ("ALTER TABLE public.items SET (fillfactor = 70);\n", "ALTER TABLE public.items RESET (fillfactor);\n"),
        ("ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;\n", FORGET),
        ["~ table public.items before: owner {owner}, with (fillfactor=70) after: …"],
        id="table-settings",
    ),
    pytest.param(
        (
            "ALTER TABLE public.items ALTER COLUMN title SET STATISTICS 50;\n",
            "ALTER TABLE public.items ALTER COLUMN title SET STATISTICS -1;\n",
        ),
        ("ALTER TABLE public.items ALTER COLUMN title SET STORAGE MAIN;\n", FORGET),
        ["~ table public.items column title before: text not null statistics 50 after: …"],
        id="column-settings",
    ),
    pytest.param(
        ("ALTER FUNCTION public.touch() STABLE;\n", "ALTER FUNCTION public.touch() VOLATILE;\n"),
        ("ALTER FUNCTION public.touch() SET search_path = pg_catalog;\n", FORGET),
        ["~ function public.touch(): SET search_path: (none) → pg_catalog"],
        id="function",
    ),
]


@pytest.mark.parametrize(("middle", "change", "expected"), LEFTOVERS)
def test_leftover_is_reported_once(
    server_url: str, tmp_path: Path, owner: str, middle: tuple[str, str], change: tuple[str, str], expected: list[str]
) -> None:
    # The newest down leaves something behind; the one before it changes the same entry and undoes its change.
    report = verify.verify(server_url, project(tmp_path, *change, middle=middle))
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", CHANGE)], verify_text(report)
    assert matches(report.problems[0].diff, expected, owner), report.problems[0].diff
    assert report.checked == (BASE, MIDDLE, CHANGE)


@CORE
def test_leftover_does_not_hide_an_older_down_that_forgets_too(server_url: str, tmp_path: Path) -> None:
    # Both downs forget their column: the older one is reported for its own, though the newer one's is still there.
    report = verify.verify(
        server_url, project(tmp_path, "ALTER TABLE public.items ADD COLUMN n int;\n", FORGET, (MIDDLE_UP, FORGET))
    )
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", CHANGE), ("down-differs", MIDDLE)]
    assert report.problems[1].diff == (
        "+ table public.items column m integer",
        "~ table public.items column order before: id, title after: id, title, m, n",
    )


EXPLAINED = [
    pytest.param("a", "a", "x", "y", False, True, id="no-difference"),
    pytest.param(None, "CREATE INDEX i", None, "CREATE INDEX i", False, True, id="the-leftover-itself"),
    pytest.param(
        "id, title", "id, title, n", "id, title, m", "id, title, m, n", False, True, id="column-added-by-leftover"
    ),
    pytest.param(
        "id, title", "id, title, m, n", "id, title, m", "id, title, m, n", False, False, id="and-one-of-its-own"
    ),
    pytest.param("id, title", "title, id", "id, title, m", "id, title, m, n", False, False, id="reordered-by-itself"),
    pytest.param("id, title", "title, id", "a, b", "b, a", False, True, id="reordered-by-leftover"),
    pytest.param("SELECT", "INSERT, SELECT", "UPDATE", "INSERT, UPDATE", False, True, id="privilege"),
    pytest.param(
        "text", "text storage main", "text statistics 5", "text storage main statistics 5", False, True, id="words"
    ),
    pytest.param(
        "text", "text not null", "text statistics 5", "text storage main statistics 5", False, False, id="other"
    ),
    pytest.param("text not null", "text", "text not null", "text", False, True, id="removed-by-leftover"),
    pytest.param("0", "1", "2", "3", True, True, id="rows-left-by-seed"),
    pytest.param("0", "2", "2", "3", True, False, id="rows-left-by-both"),
    pytest.param(None, "2", None, "2", True, True, id="rows-of-a-table-left-by-a-down"),
    # Only a row count is compared as a number: a comment that happens to be digits is words, and a superscript,
    # which str.isdigit takes for a digit, stops nothing.
    pytest.param("5", "7", "1", "3", False, False, id="digits-that-are-not-a-count"),
    pytest.param("a", "\u00b2", "b", "c", True, False, id="superscript-two"),
]


@pytest.mark.parametrize(("expected", "actual", "was", "now", "counts", "result"), EXPLAINED)
def test_explained(
    expected: str | None, actual: str | None, was: str | None, now: str | None, counts: bool, result: bool
) -> None:
    assert leftovers.explained(expected, actual, was, now, counts=counts) is result


def function(*attributes: str, body: str = "SELECT 1") -> str:
    return "\n".join(["owner o, returns integer, language sql", "owner: o", *attributes, "body:", body])


DESCRIBED = [
    pytest.param(
        function("volatility: VOLATILE"),
        function("volatility: STABLE", "SET search_path: pg_catalog"),
        ["~ function f(): volatility VOLATILE → STABLE; SET search_path: (none) → pg_catalog"],
        id="attributes",
    ),
    pytest.param(
        function("SET search_path: pg_catalog"),
        function(),
        ["~ function f(): SET search_path: pg_catalog → (none)"],
        id="setting-removed",
    ),
    pytest.param(
        function(body="BEGIN\n  RETURN 1;\nEND"),
        function(body="BEGIN\n  RETURN 2;\nEND"),
        [
            "~ function f(): body changed",
            "    @@ -1,3 +1,3 @@",
            "     BEGIN",
            "    -  RETURN 1;",
            "    +  RETURN 2;",
            "     END",
        ],
        id="body",
    ),
    pytest.param(
        function(body="\n".join(map(str, range(20)))),
        function(body="\n".join(map(str, range(100, 120)))),
        [
            "~ function f(): body changed",
            "    @@ -1,20 +1,20 @@",
            *(f"    -{i}" for i in range(changes.BODY_LINES - 1)),
            f"    … {41 - changes.BODY_LINES} more line(s)",
        ],
        id="long-body",
    ),
]


@pytest.mark.parametrize(("before", "after", "expected"), DESCRIBED)
def test_describe_function_change(before: str, after: str, expected: list[str]) -> None:
    assert changes.describe("function f()", before, after) == expected
    assert catalog.diff({"function f()": before}, {"function f()": after}) == expected
    assert catalog.diff({}, {"function f()": after}) == ["+ function f() owner o, returns integer, language sql"]


def test_aggregate_stays_one_line() -> None:
    before, after = (
        {"aggregate a(integer)": "owner o, returns integer"},
        {"aggregate a(integer)": "owner p, returns integer"},
    )
    assert catalog.diff(before, after) == [
        "~ aggregate a(integer) before: owner o, returns integer after: owner p, returns integer"
    ]


def test_rows_left_by_a_seed_are_reported_once(server_url: str, tmp_path: Path) -> None:
    directory = project(tmp_path, "SELECT 1;\n", "SELECT 1;\n")
    seeds = {
        "20240104_000000_one": (
            "INSERT INTO public.items VALUES (1, 'a');\n",
            "DELETE FROM public.items WHERE id = 1;\n",
        ),
        "20240105_000000_two": ("INSERT INTO public.items VALUES (2, 'b');\n", FORGET),
    }
    report = verify.verify(server_url, migrations(directory, seeds, "seed"), seeds=True)
    assert [(p.kind, p.name) for p in report.problems] == [("down-differs", "20240105_000000_two")]
    assert report.problems[0].diff == ("~ table public.items rows before: 1 after: 2",)
