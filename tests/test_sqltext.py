"""Table-driven tests of sqlmig.sqltext: directives, statement splitting, COPY blocks, positions. No server."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from pglast.parser import ParseError, split

from sqlmig import sqltext
from sqlmig.errors import DiscoveryError, FileProblem
from sqlmig.files import read_directives
from sqlmig.sqlscan import Spans
from sqlmig.sqltext import CopyData, MetaCommand, Statement, iter_statements, locate, split_statements

PATH = Path("migrations/migrate/20240101_000000_x.up.sql")
KNOWN = "known: no-template, no-transaction, lock-retries=…, lock-timeout=…, statement-timeout=…"


# --- directives -------------------------------------------------------------------------------------------------

DIRECTIVES = [
    ("none", "select 1;\n", set()),
    ("one", "-- sqlmig: no-transaction\nselect 1;\n", {"no-transaction"}),
    ("commas", "-- sqlmig: no-transaction, no-template\n", {"no-transaction", "no-template"}),
    ("spaces", "-- sqlmig: no-transaction no-template\n", {"no-transaction", "no-template"}),
    ("tight", "--sqlmig:no-template,no-transaction", {"no-transaction", "no-template"}),
    ("case", "-- SQLMig : No-Transaction\n", {"no-transaction"}),
    (
        "several lines",
        "-- header\n\n-- sqlmig: no-template\n  -- sqlmig: no-transaction\n",
        {"no-transaction", "no-template"},
    ),
    ("crlf", "-- sqlmig: no-transaction\r\nselect 1;\r\n", {"no-transaction"}),
    ("after a statement", "select 1;\n-- sqlmig: no-transaction\n", set()),
    ("after a block comment", "/* header */\n-- sqlmig: no-transaction\n", set()),
    ("marker not first", "-- see sqlmig: no-transaction\n", set()),
    ("empty list", "-- sqlmig:\n", set()),
    (
        "values",
        "-- sqlmig: no-transaction, Lock-Timeout=30S statement-timeout=0 lock-retries=5\n",
        {"no-transaction", "lock-timeout=30s", "statement-timeout=0", "lock-retries=5"},
    ),
]


@pytest.mark.parametrize(("sql", "expected"), [c[1:] for c in DIRECTIVES], ids=[c[0] for c in DIRECTIVES])
def test_read_directives(sql: str, expected: set[str]) -> None:
    assert read_directives(sql.splitlines(keepends=True), PATH) == frozenset(expected)


BAD_DIRECTIVES = [
    ("unknown", "-- sqlmig: no-transactoin\n", [(1, "no-transactoin")]),
    ("every unknown name", "-- x\n-- sqlmig: x, no-template\n\n-- sqlmig: Y\n", [(2, "x"), (4, "Y")]),
]


@pytest.mark.parametrize(("sql", "bad"), [c[1:] for c in BAD_DIRECTIVES], ids=[c[0] for c in BAD_DIRECTIVES])
def test_read_directives_rejects_unknown_names(sql: str, bad: list[tuple[int, str]]) -> None:
    with pytest.raises(DiscoveryError) as info:
        read_directives(sql.splitlines(keepends=True), PATH)
    assert info.value.problems == tuple(FileProblem(PATH, n, f"unknown directive '{x}'; {KNOWN}") for n, x in bad)


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("lock-timeout=soon", "lock-timeout must be a duration such as 5s, 500ms or 0 (none), got 'soon'"),
        ("statement-timeout=", "statement-timeout must be a duration such as 1h, 30s or 0 (none), got ''"),
        ("lock-retries=-1", "lock-retries must be a whole number of retries such as 3, got '-1'"),
        ("no-transaction=yes", f"unknown directive 'no-transaction=yes'; {KNOWN}"),
    ],
)
def test_read_directives_rejects_bad_values(word: str, message: str) -> None:
    with pytest.raises(DiscoveryError) as info:
        read_directives([f"-- sqlmig: {word}\n"], PATH)
    assert info.value.problems == (FileProblem(PATH, 1, message),)


def test_read_directives_stops_at_the_first_statement() -> None:
    def lines() -> Iterator[str]:
        yield "-- sqlmig: no-template\n"
        yield "select 1;\n"
        raise AssertionError("read past the first statement")

    assert read_directives(lines(), PATH) == {"no-template"}


# --- splitting ------------------------------------------------------------------------------------------------------

ATOMIC = """CREATE OR REPLACE FUNCTION grade(score int) RETURNS text LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN score > 90 THEN 'a;' ELSE 'b' END;
  SELECT 'done';
END;
select 2;"""

# (id, script, [(text, line, column), ...]): valid SQL, so PostgreSQL's parser must agree (see test_parser_agrees).
VALID = [
    ("two", "select 1; select 2;", [("select 1", 1, 1), ("select 2", 1, 11)]),
    ("no final semicolon", "select 1;\nselect 2\n", [("select 1", 1, 1), ("select 2", 2, 1)]),
    ("empty statements", ";;select 1;; ;\n", [("select 1", 1, 3)]),
    ("only comments", "-- a\n/* b; */\n  \n", []),
    ("empty", "", []),
    ("leading comments dropped", "-- c;\n/* d; */ select 1;", [("select 1", 2, 10)]),
    ("inner and trailing comments kept", "select 1 /* ; */ + 2 -- ;\n;", [("select 1 /* ; */ + 2 -- ;", 1, 1)]),
    ("trailing comment at eof", "select 1 -- done\n", [("select 1 -- done", 1, 1)]),
    ("string", "select 'a;b', 'it''s;'; select 2", [("select 'a;b', 'it''s;'", 1, 1), ("select 2", 1, 25)]),
    ("escape string", "select E'a\\';b'; select 2", [("select E'a\\';b'", 1, 1), ("select 2", 1, 18)]),
    (
        "dollar quotes",
        "select $$a;b$$;\nselect $fn$ $$;$$ ; $fn$;",
        [("select $$a;b$$", 1, 1), ("select $fn$ $$;$$ ; $fn$", 2, 1)],
    ),
    ("quoted identifier", 'select 1 as "a;b"; select 2', [('select 1 as "a;b"', 1, 1), ("select 2", 1, 20)]),
    (
        "nested block comment",
        "select /* a /* b; */ c; */ 1; select 2",
        [("select /* a /* b; */ c; */ 1", 1, 1), ("select 2", 1, 31)],
    ),
    (
        "multi-line string",
        "insert into t values ('a;\nb;\n');\nselect 1;",
        [("insert into t values ('a;\nb;\n')", 1, 1), ("select 1", 4, 1)],
    ),
    ("string continuation", "select 'a'\n'b;';", [("select 'a'\n'b;'", 1, 1)]),
    (
        "plpgsql body",
        "create function f() returns int as $$\nbegin\n  return 1;\nend;\n$$ language plpgsql;\nselect f();",
        [
            ("create function f() returns int as $$\nbegin\n  return 1;\nend;\n$$ language plpgsql", 1, 1),
            ("select f()", 6, 1),
        ],
    ),
    ("begin atomic with case", ATOMIC, [(ATOMIC[: ATOMIC.rindex(";\n")], 1, 1), ("select 2", 6, 1)]),
    (
        "procedure begin atomic",
        "create procedure p() begin atomic insert into t values (1); end; call p();",
        [("create procedure p() begin atomic insert into t values (1); end", 1, 1), ("call p()", 1, 66)],
    ),
    (
        "function named atomic",
        "create function atomic() returns int return 1; select 2;",
        [("create function atomic() returns int return 1", 1, 1), ("select 2", 1, 48)],
    ),
    ("transaction begin", "begin; select 1; end;", [("begin", 1, 1), ("select 1", 1, 8), ("end", 1, 18)]),
    (
        "multi-byte columns",
        "select 'é€😀'; select 2;\n  select 3;",
        [("select 'é€😀'", 1, 1), ("select 2", 1, 15), ("select 3", 2, 3)],
    ),
    ("non-ascii dollar tag", "select $é$ ; $_$ $é$; select 2;", [("select $é$ ; $_$ $é$", 1, 1), ("select 2", 1, 23)]),
    ("non-ascii identifier", "select 1 as énd; select 2;", [("select 1 as énd", 1, 1), ("select 2", 1, 18)]),
    ("stray carriage returns", "select 1\r\n;\r\nselect 2\r\n", [("select 1", 1, 1), ("select 2", 3, 1)]),
    (
        "copy to stdout",
        "copy t to stdout; copy t from '/tmp/f';",
        [("copy t to stdout", 1, 1), ("copy t from '/tmp/f'", 1, 19)],
    ),
]

# Text the server will reject still comes out, so that the server reports the error with its position.
INVALID = [
    ("typo", "selec 1; select 2;", [("selec 1", 1, 1), ("select 2", 1, 10)]),
    ("no keyword at eof", "select 1; foo", [("select 1", 1, 1), ("foo", 1, 11)]),
    ("unterminated string", "select 1; select 'abc;\n", [("select 1", 1, 1), ("select 'abc;", 1, 11)]),
    ("unterminated comment", "select 1; /* abc;\n", [("select 1", 1, 1), ("/* abc;", 1, 11)]),
    ("unterminated dollar quote", "select $$ a;", [("select $$ a;", 1, 1)]),
    (
        "malformed number runs to the end",
        "select 1; select 2abc; select 3;",
        [("select 1", 1, 1), ("select 2abc; select 3;", 1, 11)],
    ),
    ("semicolon in parentheses", "select (1; 2); select 3;", [("select (1; 2)", 1, 1), ("select 3", 1, 16)]),
    ("unbalanced parenthesis", "select 1; select 2); select 3;", [("select 1", 1, 1), ("select 2); select 3;", 1, 11)]),
    (
        "keyword-less between comments",
        "select 1; /* c */ foo; -- x\nselect 2;",
        [("select 1", 1, 1), ("foo", 1, 19), ("select 2", 2, 1)],
    ),
    (
        "malformed after the last statement",
        "select 1; 1abc; select 2;",
        [("select 1", 1, 1), ("1abc; select 2;", 1, 11)],
    ),
    ("bad escape", "select e'\\uzzzz'; select 2;", [("select e'\\uzzzz'; select 2;", 1, 1)]),
    (
        "bad escape without keyword",
        "select 1;\ne'\\uzzzz'; select 2",
        [("select 1", 1, 1), ("e'\\uzzzz'; select 2", 2, 1)],
    ),
    # Lexer errors that the scanner reports at the same offset after blanking, past it, or at no offset: each
    # once made the splitter retry forever.
    (
        "high surrogate escape without its pair",
        "SELECT E'wrong: \\udb99';\nSELECT 2;\n",
        [("SELECT E'wrong: \\udb99';\nSELECT 2;", 1, 1)],
    ),
    ("two high surrogates", "select E'\\ud800\\ud800'; select 2;", [("select E'\\ud800\\ud800'; select 2;", 1, 1)]),
    ("low surrogate first", "select E'\\udc00'; select 2;", [("select E'\\udc00'; select 2;", 1, 1)]),
    (
        "surrogate escape at the end of the text",
        "select 1; select E'\\ud800",
        [("select 1", 1, 1), ("select E'\\ud800", 1, 11)],
    ),
    (
        "escape making invalid UTF-8",
        "select 1; select E'\\xff'; select 2;",
        [("select 1", 1, 1), ("select E'\\xff'; select 2;", 1, 11)],
    ),
    ("escape making NUL", "select E'\\000' as x; select 2;", [("select E'\\000' as x; select 2;", 1, 1)]),
    (
        "hex escapes making valid UTF-8",
        "select 1; select E'caf\\xc3\\xa9'; select 2;",
        [("select 1", 1, 1), ("select E'caf\\xc3\\xa9'", 1, 11), ("select 2", 1, 34)],
    ),
    (
        "escape past the last code point",
        "select 1; select E'\\U00110000'; select 2;",
        [("select 1", 1, 1), ("select E'\\U00110000'; select 2;", 1, 11)],
    ),
    ("zero-length identifier", 'select ""; select 2;', [('select ""; select 2;', 1, 1)]),
    ("bare hex prefix", "select 0x; select 2;", [("select 0x; select 2;", 1, 1)]),
    # The scanner reads a C string: a NUL would hide the rest of the batch from it. It stays in the text sent.
    ("NUL between statements", "select 1;\x00select 2;", [("select 1", 1, 1), ("\x00select 2;", 1, 10)]),
    ("NUL in a word", "select 1; sel\x00ect 2;", [("select 1", 1, 1), ("sel\x00ect 2;", 1, 11)]),
    # Text decoded with surrogateescape: lone surrogates cannot be encoded for the scanner.
    ("lone surrogate in a string", "select '\udc80'; select 2;", [("select '\udc80'", 1, 1), ("select 2", 1, 13)]),
    (
        "lone surrogates in dollar tags",
        "select $\udc80$ ; $\udc81$ $\udc80$; select 2;",
        [("select $\udc80$ ; $\udc81$ $\udc80$", 1, 1), ("select 2", 1, 23)],
    ),
]

CASES = VALID + INVALID


def expect(rows: list[tuple[str, int, int]]) -> list[Statement]:
    return [Statement(text, line, column) for text, line, column in rows]


@pytest.fixture(params=[False, True], ids=["batch=64KiB", "batch=1"])
def batches(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each case twice: whole, and split after every line, carrying open statements from batch to batch."""
    if request.param:
        monkeypatch.setattr(sqltext, "_BATCH", 1)


@pytest.mark.usefixtures("batches")
@pytest.mark.parametrize(("sql", "rows"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_split_statements(sql: str, rows: list[tuple[str, int, int]]) -> None:
    assert split_statements(sql) == expect(rows)
    assert list(iter_statements(sql.splitlines(keepends=True))) == expect(rows)


@pytest.mark.parametrize("sql", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_parser_agrees(sql: str) -> None:
    """The scanner-based splitter finds exactly the statements PostgreSQL's parser finds."""
    slices = split(sql, with_parser=True, only_slices=True)
    assert [s.text for s in split_statements(sql)] == [sql[s] for s in slices]
    for statement, piece in zip(split_statements(sql), slices, strict=True):
        assert (statement.line, statement.column) == position(sql, piece.start)


FRAGMENTS = [
    *(c[1].rstrip("; \n") for c in VALID if c[1].strip()),
    "insert into t values\n(1, 'x;'),\n(2, ')')",
    "create table t (\n a int default 1,\n b text default ';'\n)",
    "do $$ begin perform 1; end $$",
]
SEPARATORS = [";", ";\n", " ;\n\n", ";-- c;\n", "; /* x; */\n", ";;", ";\r\n"]


@pytest.mark.usefixtures("batches")
def test_random_scripts_agree_with_the_parser() -> None:
    rng = random.Random(20240101)
    checked = 0
    for _ in range(300):
        sql = "".join(rng.choice(FRAGMENTS) + rng.choice(SEPARATORS) for _ in range(rng.randint(1, 6)))
        sql = sql.rstrip(";") if rng.random() < 0.3 else sql
        try:
            slices = split(sql, with_parser=True, only_slices=True)
        except ParseError:  # e.g. a fragment ending in a -- comment swallowed the ';' after it
            continue
        expected = [Statement(sql[s], *position(sql, s.start)) for s in slices]
        assert split_statements(sql) == expected, sql
        checked += 1
    assert checked > 200


def position(sql: str, index: int) -> tuple[int, int]:
    before = sql[:index]
    return before.count("\n") + 1, index - before.rfind("\n")


COPY_DETECTION = [
    ("plain", "copy t from stdin", True),
    ("casing and layout", "Copy public.t (a, b)\n  FROM\tSTDIN WITH (FORMAT csv, HEADER true)", True),
    ("to stdout", "COPY t TO STDOUT", False),
    ("query to stdout", "copy (select 1) to stdout", False),
    ("from a file", "copy t from '/tmp/data'", False),
    ("from a program", "copy t from program 'cat /tmp/data'", False),
    ("syntax error", "copy t from stdin with (", False),
]


@pytest.mark.parametrize(("sql", "copy"), [c[1:] for c in COPY_DETECTION], ids=[c[0] for c in COPY_DETECTION])
def test_copy_from_stdin_is_detected(sql: str, copy: bool) -> None:
    assert [s.copy for s in split_statements(sql + ";\n")] == [copy]


# --- COPY data and streaming ------------------------------------------------------------------------------------

DATA = "1\ta\\tb\t\\N\n2\tO'Brien; x\t\\\\\n\\.x\n \\.\n"
STREAMS = [
    (
        "pg_dump block",
        f"SET x = 1;\nCOPY public.t (a, b, c) FROM stdin;\n{DATA}\\.\nselect 1;\n",
        [
            Statement("SET x = 1", 1, 1),
            Statement("COPY public.t (a, b, c) FROM stdin", 2, 1, copy=True),
            CopyData(DATA),
            Statement("select 1", 8, 1),
        ],
    ),
    (
        "crlf terminator",
        "copy t from stdin;\r\n1\r\n\\.\r\nselect 1;\r\n",
        [Statement("copy t from stdin", 1, 1, copy=True), CopyData("1\r\n"), Statement("select 1", 4, 1)],
    ),
    (
        "empty data",
        "copy t from stdin;\n\\.\nselect 1;",
        [Statement("copy t from stdin", 1, 1, copy=True), Statement("select 1", 3, 1)],
    ),
    (
        "data to the end",
        "copy t from stdin;\n1\n2",
        [Statement("copy t from stdin", 1, 1, copy=True), CopyData("1\n2")],
    ),
    (
        "copy at the end",
        "select 1;\ncopy t from stdin",
        [Statement("select 1", 1, 1), Statement("copy t from stdin", 2, 1, copy=True)],
    ),
    (
        "two blocks",
        "copy a from stdin;\n1\n\\.\ncopy b from stdin;\n2\n\\.\nselect 1;",
        [
            Statement("copy a from stdin", 1, 1, copy=True),
            CopyData("1\n"),
            Statement("copy b from stdin", 4, 1, copy=True),
            CopyData("2\n"),
            Statement("select 1", 7, 1),
        ],
    ),
    (
        "rest of the copy line runs after the data",
        "copy a from stdin; select 'x;';\n1\n\\.\nselect 2;",
        [
            Statement("copy a from stdin", 1, 1, copy=True),
            CopyData("1\n"),
            Statement("select 'x;'", 1, 20),
            Statement("select 2", 4, 1),
        ],
    ),
    (
        "statement spanning the data",
        "copy a from stdin; select\n1\n\\.\n2;",
        [Statement("copy a from stdin", 1, 1, copy=True), CopyData("1\n"), Statement("select\n2", 1, 20)],
    ),
    (
        "copy in the rest of a copy line",
        "copy a from stdin; copy b from stdin;\n1\n\\.\n2\n\\.\nselect 3;",
        [
            Statement("copy a from stdin", 1, 1, copy=True),
            CopyData("1\n"),
            Statement("copy b from stdin", 1, 20, copy=True),
            CopyData("2\n"),
            Statement("select 3", 6, 1),
        ],
    ),
    (
        "ordinary copy statements",
        "copy t to stdout;\nselect 1;",
        [Statement("copy t to stdout", 1, 1), Statement("select 1", 2, 1)],
    ),
]


@pytest.mark.usefixtures("batches")
@pytest.mark.parametrize(("sql", "items"), [c[1:] for c in STREAMS], ids=[c[0] for c in STREAMS])
def test_iter_statements_with_copy(sql: str, items: list[Statement | CopyData]) -> None:
    assert list(iter_statements(sql.splitlines(keepends=True))) == items
    assert split_statements(sql) == [i for i in items if isinstance(i, Statement)]


def test_copy_data_comes_in_chunks_of_whole_lines() -> None:
    lines = [f"{i}\t{'x' * 100}\n" for i in range(30_000)] + ["y" * 3_000_000 + "\n", "last\n"]
    items = list(iter_statements(["copy t from stdin;\n", *lines, "\\.\n"]))
    chunks = [i.data for i in items if isinstance(i, CopyData)]
    assert "".join(chunks) == "".join(lines)
    assert all(c.endswith("\n") for c in chunks)
    assert max(len(c) for c in chunks if "y" not in c) <= 1024 * 1024
    assert "y" * 3_000_000 + "\n" in chunks


def counted(lines: list[str], seen: list[int]) -> Iterator[str]:
    for line in lines:
        seen[0] += 1
        yield line


def test_iter_statements_streams() -> None:
    lines = [f"insert into t values ({i}, 'a;b');\n" for i in range(100_000)]
    seen = [0]
    items = iter_statements(counted(lines, seen))
    assert next(items) == Statement("insert into t values (0, 'a;b')", 1, 1)
    assert seen[0] < 5_000
    assert sum(1 for _ in items) == 99_999


def test_copy_data_streams() -> None:
    lines = ["copy t from stdin;\n"] + [f"{i}\t{'x' * 100}\n" for i in range(100_000)] + ["\\.\n"]
    seen = [0]
    items = iter_statements(counted(lines, seen))
    assert next(items).copy  # type: ignore[union-attr]
    assert isinstance(next(items), CopyData)
    assert seen[0] < 20_000


LONG = [
    ("insert with semicolons on every line", "insert into t values\n{}(0, 'end');\nselect 2;", "({}, 'a;b', '(;'),\n"),
    ("parentheses across batches", "create table t (\n{}  z int);\nselect 2;", "  c{} text default ';',\n"),
    ("dollar body", "create function f() returns void as $$\n{}$$ language plpgsql;\nselect 2;", "  perform {};\n"),
    ("block comment", "/*\n{}*/ select 1;\nselect 2;", " {} ; /* nested; */\n"),
]


@pytest.mark.parametrize(("frame", "line"), [c[1:] for c in LONG], ids=[c[0] for c in LONG])
def test_long_statements_span_batches(frame: str, line: str) -> None:
    sql = frame.format("".join(line.format(i) for i in range(20_000)))
    statements = split_statements(sql)
    assert [s.text for s in statements][-1] == "select 2"
    assert len(statements) == 2
    assert statements[1].line == sql.count("\n") + 1


# --- positions ------------------------------------------------------------------------------------------------------

LOCATE = [
    ("first character", Statement("select x", 3, 5), 1, (3, 5)),
    ("same line", Statement("select x", 3, 5), 8, (3, 12)),
    ("next line", Statement("select\n  x", 3, 5), 10, (4, 3)),
    ("after a newline", Statement("select\nx", 3, 5), 8, (4, 1)),
    ("multi-byte", Statement("select 'é😀', x", 1, 1), 15, (1, 15)),
    ("past the end", Statement("select", 2, 2), 99, (2, 8)),
    ("zero", Statement("select", 2, 2), 0, (2, 2)),
]


@pytest.mark.parametrize(("statement", "pos", "where"), [c[1:] for c in LOCATE], ids=[c[0] for c in LOCATE])
def test_locate(statement: Statement, pos: int, where: tuple[int, int]) -> None:
    assert locate(statement, pos) == where


def test_locate_points_into_the_script() -> None:
    sql = "-- é\nselect 1;\n\n  insert into t\n  values ('ü', bogus);\n"
    statement = split_statements(sql)[1]
    assert locate(statement, statement.text.index("bogus") + 1) == (5, 16)


# --- psql meta-commands ---------------------------------------------------------------------------------------------

RESTRICT = "\\restrict 3aBcDeF9\n\nSET x = 1;\n\\unrestrict 3aBcDeF9\n"
META = [
    (
        "pg_dump restrict pair, key starting with a digit",
        RESTRICT,
        [MetaCommand("\\restrict 3aBcDeF9", 1), Statement("SET x = 1", 3, 1), MetaCommand("\\unrestrict 3aBcDeF9", 4)],
    ),
    (
        "connect between statements",
        "select 1;\n\\connect other\nselect 2;",
        [Statement("select 1", 1, 1), MetaCommand("\\connect other", 2), Statement("select 2", 3, 1)],
    ),
    (
        "indented, at the end without a newline",
        "select 1;\n \t\\c db",
        [Statement("select 1", 1, 1), MetaCommand("\\c db", 2)],
    ),
    ("include", "\\i schema.sql\n\\ir ../x.sql\n", [MetaCommand("\\i schema.sql", 1), MetaCommand("\\ir ../x.sql", 2)]),
    (
        "set and a statement using the variable",
        "\\set n 10\nselect :n;\n",
        [MetaCommand("\\set n 10", 1), Statement("select :n", 2, 1)],
    ),
    ("crlf", "\\c db\r\nselect 1;\r\n", [MetaCommand("\\c db", 1), Statement("select 1", 2, 1)]),
    (
        "a quote in the line does not open a string",
        "\\echo it's\nselect 'a';\n",
        [MetaCommand("\\echo it's", 1), Statement("select 'a'", 2, 1)],
    ),
    (
        "a comment opener in the line does not open a comment",
        "\\echo /*\nselect 1;\n\\echo */\nselect 2;",
        [
            MetaCommand("\\echo /*", 1),
            Statement("select 1", 2, 1),
            MetaCommand("\\echo */", 3),
            Statement("select 2", 4, 1),
        ],
    ),
    (
        "ends an open statement, which follows it",
        "select 1\n\\gset\nselect 2;",
        [MetaCommand("\\gset", 2), Statement("select 1", 1, 1), Statement("select 2", 3, 1)],
    ),
    (
        "an open copy statement is not followed by data",
        "copy t from stdin\n\\c db\nselect 1;",
        [MetaCommand("\\c db", 2), Statement("copy t from stdin", 1, 1), Statement("select 1", 3, 1)],
    ),
    ("in a string", "select 'a\n\\c db';", [Statement("select 'a\n\\c db'", 1, 1)]),
    ("in an escape string", "select E'a\\\n\\\\c';", [Statement("select E'a\\\n\\\\c'", 1, 1)]),
    ("in a dollar quote", "do $$\n\\c db\n$$;", [Statement("do $$\n\\c db\n$$", 1, 1)]),
    ("in a quoted identifier", 'select 1 as "a\n\\c";', [Statement('select 1 as "a\n\\c"', 1, 1)]),
    ("in a block comment", "/*\n\\c db\n*/ select 1;", [Statement("select 1", 3, 4)]),
    (
        "in an unterminated string: the server reports it",
        "select 1;\nselect 'a\n\\c db\n",
        [Statement("select 1", 1, 1), Statement("select 'a\n\\c db", 2, 1)],
    ),
    (
        "not first on its line: the server reports it",
        "select 1; \\c db\n",
        [Statement("select 1", 1, 1), Statement("\\c db", 1, 11)],
    ),
    (
        "after a malformed token, which runs to the line",
        "select 1abc;\n\\c db\nselect 2;",
        [MetaCommand("\\c db", 2), Statement("select 1abc;", 1, 1), Statement("select 2", 3, 1)],
    ),
    (
        "copy data lines starting with a backslash are data",
        "copy t from stdin;\n\\N\t1\n\\\\x\t2\n\\.\n\\c db\nselect 1;\n",
        [
            Statement("copy t from stdin", 1, 1, copy=True),
            CopyData("\\N\t1\n\\\\x\t2\n"),
            MetaCommand("\\c db", 5),
            Statement("select 1", 6, 1),
        ],
    ),
    (
        "after the rest of a copy line",
        "copy t from stdin; select 1;\n1\n\\.\n\\c db\n",
        [
            Statement("copy t from stdin", 1, 1, copy=True),
            CopyData("1\n"),
            Statement("select 1", 1, 20),
            MetaCommand("\\c db", 4),
        ],
    ),
]


@pytest.mark.usefixtures("batches")
@pytest.mark.parametrize(("sql", "items"), [c[1:] for c in META], ids=[c[0] for c in META])
def test_psql_meta_commands(sql: str, items: list[Statement | CopyData | MetaCommand]) -> None:
    assert list(iter_statements(sql.splitlines(keepends=True))) == items
    assert split_statements(sql) == [i for i in items if isinstance(i, Statement)]


def test_meta_command_name() -> None:
    assert MetaCommand("\\restrict 3aBcDeF9", 1).command == "\\restrict"
    assert MetaCommand("\\c", 1).command == "\\c"


def test_meta_command_is_found_without_reading_ahead() -> None:
    lines = ["\\restrict key\n"] + [f"insert into t values ({i});\n" for i in range(100_000)]
    seen = [0]
    items = iter_statements(counted(lines, seen))
    assert next(items) == MetaCommand("\\restrict key", 1)
    assert seen[0] < 5_000


def test_backslash_lines_inside_a_long_string_scan_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A document in a string (LaTeX, say) has a backslash at the start of every line: the scanner runs once per
    batch, not once per such line."""
    calls = [0]
    tokens = sqltext.quoted_spans

    def counting(text: str, base: int, stop: int) -> Spans:
        calls[0] += 1
        return tokens(text, base, stop)

    monkeypatch.setattr(sqltext, "quoted_spans", counting)
    body = "".join(f"\\section{{part {i}}} it''s\n" for i in range(20_000))
    sql = f"select 1;\ninsert into docs values ('\n{body}');\n\\c db\nselect 2;\n"
    items = list(iter_statements(sql.splitlines(keepends=True)))
    assert [type(i).__name__ for i in items] == ["Statement", "Statement", "MetaCommand", "Statement"]
    assert items[2] == MetaCommand("\\c db", 20_004)
    assert calls[0] < 30


@pytest.mark.parametrize(
    "head",
    ["", "-- note\n", "/* block */ ", "/* outer /* nested */ still */\n", "\n\n  "],
    ids=["bare", "line comment", "block comment", "nested comment", "blank lines"],
)
def test_begin_atomic_body_after_leading_comments(head: str) -> None:
    body = "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); END"
    texts = [s.text for s in split_statements(f"SELECT 1;\n{head}{body};\nCALL p();\n")]
    assert texts[0] == "SELECT 1" and texts[-1] == "CALL p()" and texts[1].endswith("VALUES (2); END")
    assert len(texts) == 3
