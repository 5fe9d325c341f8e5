"""Fuzzing the statement splitter: every input ends, and valid SQL splits into the statements the server runs.

Each example runs under a CPU-time alarm (SIGPROF: pytest-timeout owns SIGALRM), so a splitter that stops making
progress fails the example that made it spin. The bound is generous and says nothing about speed.
"""

from __future__ import annotations

import io
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import click
import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import pq

from sqlmig import sqltext
from sqlmig.cli.commands import main
from sqlmig.run import wire
from sqlmig.run.stream import RawLines
from sqlmig.sqltext import CopyData, Item, Statement, iter_statements, split_statements

from .helpers import tree

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Hang(Exception):
    """The splitter used more CPU time than any input of that size needs."""


@contextmanager
def bounded(size: int) -> Iterator[None]:
    """Fail with :class:`Hang` once the block has used 20 s of CPU time plus 20 s per MB of input."""
    seconds = 20 + 20 * size / 1e6

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds:.0f} s of CPU time for {size} characters")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@contextmanager
def batch(size: int | None) -> Iterator[None]:
    """Split in batches of ``size`` characters (None: the module's own), so that batch boundaries fall
    everywhere."""
    with pytest.MonkeyPatch.context() as patch:
        if size is not None:
            patch.setattr(sqltext, "_BATCH", size)
        yield


def lines(text: str) -> list[str]:
    return io.StringIO(text, newline="\n").readlines()


def normalised(items: list[Item]) -> list[object]:
    """items with consecutive COPY data joined (how it is cut into chunks depends on the read-ahead) and its CRLF
    as LF (raw blocks keep the file's line ends, lines read from a file do not)."""
    out: list[object] = []
    for item in items:
        if not isinstance(item, CopyData):
            out.append(item)
            continue
        data = item.data if isinstance(item.data, str) else item.data.decode("utf-8", "surrogateescape")
        data = data.replace("\r\n", "\n")
        if out and isinstance(out[-1], CopyData):
            data = str(out.pop().data) + data  # type: ignore[union-attr]
        out.append(CopyData(data))
    return out


def shape(item: object) -> object:
    """An item without its place (lines after COPY data passed over are not counted)."""
    return type(item).__name__, getattr(item, "text", None), getattr(item, "copy", None)


def streamed(data: bytes, size: int | None) -> list[object] | None:
    """The items of a file holding data, read as a streamed migration is (None: it is not UTF-8)."""
    with batch(size):
        try:
            return normalised(list(iter_statements(RawLines(io.BytesIO(data)))))
        except UnicodeDecodeError:
            return None


def split_every_way(text: str) -> list[object]:
    """The items of text, checked to be the same whatever the batch size; streamed from a file, the same whatever
    the batch size (which decides what COPY data is read as lines and what in raw blocks), and, for text without
    CR, the same as from lines, also with CRLF line ends. Every statement is where it says it is."""
    with bounded(len(text)):
        found = normalised(list(iter_statements(lines(text))))
        for size in (1, 61):
            with batch(size):
                assert normalised(list(iter_statements(lines(text)))) == found, f"batch={size}"
        assert [i for i in found if isinstance(i, Statement)] == split_statements(text)
        files = [text.encode("utf-8", "surrogatepass")]
        files += [text.replace("\n", "\r\n").encode("utf-8", "surrogatepass")] if "\r" not in text else []
        for data in files:
            got = streamed(data, None)
            if got is None:  # lone surrogates: not UTF-8, and refused as such
                assert any("\ud800" <= c <= "\udfff" for c in text)
                continue
            for size in (1, 61):
                assert streamed(data, size) in (got, None), f"streamed, batch={size}"
            # The check before a streamed file runs passes over COPY data: it must meet the same statements.
            passed = list(iter_statements(RawLines(io.BytesIO(data), skips_data=True)))
            assert [shape(i) for i in passed if not isinstance(i, CopyData)] == [
                shape(i) for i in got if not isinstance(i, CopyData)
            ]
            if "\r" not in text and not text.startswith("\ufeff"):
                assert got == found
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    for item in found:
        if isinstance(item, Statement):
            assert text.startswith(item.text, starts[item.line - 1] + item.column - 1), item
    return found


# --- any text ends ------------------------------------------------------------------------------------------------

SOUP = [
    *("'", '"', "E'", "e'", "U&'", 'U&"', "B'", "X'", "N'", " UESCAPE '!'", "''", '""'),
    *("\\", "\\u", "\\U", "\\udb99", "\\ud800", "\\udc00", "\\U0001F600", "\\U00110000", "\\x", "\\xff"),
    *("\\000", "\\400", "\\xc3\\xa9", "\\'", "\\\\"),
    *("$$", "$a$", "$_$", "$é$", "$1", "$a", "a$$", "$\udc80$"),
    *("--", "-- c\n", "/*", "*/", "/* /* */", "/* x */"),
    *(";", ";;", "(", ")", "[", "]", ",", ".", "::", "=", "+", "-", "*", "/", "%", "^", "<", ">", "!", "#", "@"),
    *("BEGIN ATOMIC ", "END", " CASE ", "begin", "CREATE FUNCTION f() RETURNS int LANGUAGE sql ", "CREATE "),
    *("COPY t FROM stdin;\n", "copy t (a) from STDIN with (format csv);", "\n\\.\n", "\\.", "1\tx\n", "\\N"),
    *("\n\\connect db\n", "\\set x 1\n", "\n  \\i f.sql\n", "\\", ":x", ":'x'"),
    *("select ", "SELECT 1", "insert into t values (1)", "1abc", "0x", "0x1F", "1_000", "1e", "1.5", ".5e-3"),
    *("é", "€", "😀", "\u00a0", "\u2028", "\x00", "\udc80", "\ufeff", "\x1c"),
    *(" ", "\t", "\n", "\r\n", "\r", "\f", "\v"),
]
soup = st.lists(st.one_of(st.sampled_from(SOUP), st.text(max_size=3)), max_size=80).map("".join)
any_text = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, categories=None)),  # with lone surrogates
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.binary().map(lambda b: b.decode("latin-1")),
)


@FUZZ
@given(soup)
@example("SELECT E'wrong: \\udb99';")
@example("select E'\\ud800\\ud800'; select 2;\n\\c db\n")
@example("select 1; select E'\\xff'; select 2;")
@example("create function f() returns int language sql begin atomic select E'\\udb99'; end;")
@example("COPY t FROM stdin;\n1\n\\.\nselect E'\\udb99';\n")
def test_sql_fragments_end(text: str) -> None:
    split_every_way(text)


@FUZZ
@given(any_text)
def test_any_text_ends(text: str) -> None:
    split_every_way(text)


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_any_bytes_end(data: bytes) -> None:
    """A file of any bytes, streamed: its statements, or an error saying it is not UTF-8."""
    with bounded(len(data)), suppress(UnicodeDecodeError):
        list(iter_statements(RawLines(io.BytesIO(data))))


@settings(max_examples=3, deadline=None)
@given(st.lists(st.sampled_from(SOUP), min_size=20, max_size=60).map("".join))
def test_long_soup_ends(text: str) -> None:
    """Far more than one batch of text, so that malformed tokens fall in open statements carried from batch to
    batch."""
    split_every_way(text * (80_000 // len(text) + 1))


# --- valid SQL: as many statements as the server runs -------------------------------------------------------------

STATEMENTS = [
    "SELECT 1",
    "select 'a;b', 'it''s'",
    "SELECT $$;$$, $tag$ ; $$ $tag$",
    "SELECT E'\\n;\\'', E'\\u00e9', U&'\\00e9', U&'!00e9' UESCAPE '!'",
    "SELECT 'é€😀' AS \"ü;\"",
    'SELECT "a;""b" FROM (SELECT 1 AS "a;""b") s',
    "SELECT 1 /* c; /* nested; */ still; */ + 2",
    "SELECT 1 -- c;\n + 2",
    "INSERT INTO fz VALUES (1, ';'), (2, $$)$$)",
    "UPDATE fz SET b = b || ';' WHERE a = 1",
    "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
    "VALUES (1, ';'), (2, '(')",
    "SELECT CASE WHEN true THEN ';' ELSE 'x' END",
    "SELECT (ARRAY[1, 2])[1], (1)::text, 1.5e-3, .5",
    "CREATE OR REPLACE FUNCTION pg_temp.fa() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
    "CREATE OR REPLACE FUNCTION pg_temp.fb() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
    "  SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND",
    "CREATE OR REPLACE FUNCTION pg_temp.fc() RETURNS text LANGUAGE sql AS $f$ SELECT ';'::text $f$",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DO $body$\nBEGIN\n  RAISE NOTICE '%', ';';\nEND\n$body$",
    "SET LOCAL work_mem = '8MB'",
    "SHOW work_mem",
    "CREATE OR REPLACE TEMP VIEW fzv AS SELECT ';' AS x",
    "EXPLAIN SELECT 1",
    "SELECT 'multi\nline;\nstring'",
]
SEPARATORS = [";", ";\n", ";\r\n", " ;\n\n", ";-- c;\n", "; /* x; */\n", ";;", ";\n;\n", ";\t", ";\n\n-- note\n"]
LEADING = ["", "\n", "-- head\n", "/* head */ ", "\r\n  "]
statements = st.lists(st.tuples(st.sampled_from(STATEMENTS), st.sampled_from(SEPARATORS)), min_size=1, max_size=12)


def script(head: str, body: list[tuple[str, str]], last: bool) -> str:
    """The statements of body, each with its separator; the last one's dropped unless ``last``."""
    text = head + "".join(s + sep for s, sep in body)
    return text if last else text.rstrip(";\n\r\t ")


def server_count(conn: psycopg.Connection[tuple[object, ...]], text: str) -> int:
    """How many statements the server runs for text, in a transaction rolled back after."""
    wire.exchange(conn, "BEGIN; CREATE TEMP TABLE fz (a int, b text)")
    try:
        results = wire.exchange(conn, text)
    finally:
        wire.exchange(conn, "ROLLBACK")
    failed = [r.error_message.decode() for r in results if r.status == pq.ExecStatus.FATAL_ERROR]
    assert not failed, (failed, text)
    return len(results)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(LEADING), statements, st.booleans())
def test_statement_count_agrees_with_the_server(
    db: psycopg.Connection[tuple[object, ...]], head: str, body: list[tuple[str, str]], last: bool
) -> None:
    text = script(head, body, last)
    found = split_every_way(text)
    assert all(isinstance(i, Statement) for i in found)
    assert len(found) == len(body) == server_count(db, text)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements)
def test_long_script_agrees_with_the_server(
    db: psycopg.Connection[tuple[object, ...]], body: list[tuple[str, str]]
) -> None:
    """Several batches' worth: statements and open statements cross batch boundaries."""
    body = body * (80_000 // len(script("", body, True)) + 1)
    text = script("", body, True)
    assert len(split_every_way(text)) == len(body) == server_count(db, text)


# --- end to end: a lexer error in a migration -----------------------------------------------------------------------

BAD = "migrate/20240101_000000_bad.up.sql"
SURROGATE = "CREATE TABLE public.ok (id int);\nSELECT E'wrong: \\udb99';\nCREATE TABLE public.after (id int);\n"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("head", ["", "-- sqlmig: no-transaction\n"], ids=["transaction", "no-transaction"])
def test_migrate_up_reports_the_servers_error(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, head: str
) -> None:
    tree(tmp_path / "migrations", {BAD: head + SURROGATE})
    result = run("migrate", "up", "--database-url", db_url, "--dir", str(tmp_path / "migrations"))
    assert result.exit_code == 1, result.output
    line = 2 + head.count("\n")
    assert f"{BAD}:{line}:23: invalid Unicode surrogate pair" in result.stderr and "(SQLSTATE 42601)" in result.stderr
    created = {r[0] for r in db.execute("SELECT relname FROM pg_class WHERE relname IN ('ok', 'after')")}
    assert created == ({"ok"} if head else set())  # a no-transaction file keeps what ran before the error
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() is not None


@pytest.mark.timeout(60)
def test_lint_reports_it(tmp_path: Path) -> None:
    tree(tmp_path / "migrations", {BAD: SURROGATE})
    result = run("lint", "--dir", str(tmp_path / "migrations"), "--json")
    assert result.exit_code == 4
    found = json.loads(result.stdout)["findings"]
    assert {"code": "SQM001", "line": 2, "column": 23} in [{k: f[k] for k in ("code", "line", "column")} for f in found]
