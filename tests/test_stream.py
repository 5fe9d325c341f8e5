"""Streamed files.

COPY data read from the file in raw blocks must give exactly what line-by-line reading gives (pure, no database):
the block size is shrunk so that the ``\\.`` line, a CRLF and a multi-byte character fall on every possible
block boundary. Then, on a real server: statements of tens of megabytes in a streamed file complete, alone or
among small ones, and a connection that stops taking one is reported within a bound instead of waited on.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import sqlmig
from sqlmig import config, copydata, render, sqltext
from sqlmig.cli import exits
from sqlmig.errors import DiscoveryError
from sqlmig.files import discover
from sqlmig.run import connection, execute, wire
from sqlmig.run.stream import RawLines
from sqlmig.sqltext import CopyData, Statement, iter_statements

from .helpers import history, tree

Conn = psycopg.Connection[tuple[object, ...]]

SCRIPTS = {
    "copy then statements": "CREATE TABLE t (a int);\nCOPY t FROM stdin;\n1\tx\n2\ty\n\\.\nSELECT 1;\nSELECT 2;\n",
    "two copies": "COPY a FROM stdin;\n1\n\\.\nCOPY b FROM stdin;\n2\n3\n\\.\nSELECT 'after';\n",
    "empty data": "COPY t FROM stdin;\n\\.\nSELECT 1;\n",
    "empty row before the end": "COPY t FROM stdin;\n1\n\n\\.\nSELECT 1;\n",
    "not an end line": "COPY t FROM stdin;\n\\.x\n\\\\.\n \\.\n\\.\nSELECT 1;\n",
    "data to the end of the file": "COPY t FROM stdin;\n1\n2",
    "end line at the end of the file": "COPY t FROM stdin;\n1\n\\.",
    "crlf": "COPY t FROM stdin;\r\n1\tx\r\n2\ty\r\n\\.\r\nSELECT 1;\r\nSELECT\r\n 2;\r\n",
    "bom and non-ascii": "\ufeffCOPY t FROM stdin;\nżółw\t\U0001f422\n\\.\nSELECT 'ä';\n",
    "statement on the copy line after ;": "COPY t FROM stdin; SELECT 'x';\n1\n\\.\nSELECT 2;\n",
    "long lines": "COPY t FROM stdin;\n" + "x" * 300 + "\n" + "y" * 5 + "\n\\.\nSELECT 3;\n",
}


def _normalised(items: list[sqltext.Item]) -> tuple[list[object], str]:
    others: list[object] = []
    data: list[str] = []
    for item in items:
        if isinstance(item, CopyData):
            text = item.data if isinstance(item.data, str) else item.data.decode()
            data.append(text)  # exactly: blocks read raw must give the text the lines give, CRLF as LF
            others.append("<data>") if not others or others[-1] != "<data>" else None
        else:
            others.append(item)
    return others, "".join(data)


def _by_lines(raw: bytes) -> list[sqltext.Item]:
    text = raw.decode("utf-8-sig").replace("\r\n", "\n")
    return list(iter_statements(io.StringIO(text)))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64, 1 << 20], ids=lambda c: f"block={c}")
@pytest.mark.parametrize("name", SCRIPTS)
def test_blocks_match_lines(name: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = SCRIPTS[name].encode()
    monkeypatch.setattr(sqltext, "_BATCH", 16)  # so that the splitter stops reading ahead soon after COPY
    monkeypatch.setattr(copydata, "CHUNK", chunk)
    expected = _by_lines(raw)
    got = list(iter_statements(RawLines(io.BytesIO(raw))))
    assert _normalised(got) == _normalised(expected)
    assert any(isinstance(i, CopyData) and isinstance(i.data, bytes) for i in got) or not _normalised(got)[1]


def _shape(item: sqltext.Item) -> object:
    """An item without its place: passing over COPY data does not count the lines after it."""
    assert not isinstance(item, CopyData)
    return type(item).__name__, item.text, isinstance(item, Statement) and item.copy


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64, 1 << 20], ids=lambda c: f"block={c}")
@pytest.mark.parametrize("name", [*SCRIPTS, "backslashes in the data", "end line in the first block"])
def test_passing_over_data_finds_the_same_statements(name: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before a streamed file runs reads it with ``skips_data``: it must see every statement the run will
    send, whatever the block size, and no data."""
    more = {
        "backslashes in the data": "COPY t FROM stdin;\n\\N\ta\\.b\n\\\\.\n\\N\t\\.\n\\.\nCOMMIT;\n",
        "end line in the first block": "COPY t FROM stdin;\n\\.\nSELECT 1; COMMIT;\n",
    }
    raw = (SCRIPTS | more)[name].encode()
    monkeypatch.setattr(sqltext, "_BATCH", 16)
    monkeypatch.setattr(copydata, "CHUNK", chunk)
    expected = [_shape(i) for i in iter_statements(RawLines(io.BytesIO(raw))) if not isinstance(i, CopyData)]
    got = list(iter_statements(RawLines(io.BytesIO(raw), skips_data=True)))
    assert [_shape(i) for i in got if not isinstance(i, CopyData)] == expected
    # Only the lines the splitter read ahead before it met the data may come as chunks; the raw blocks never do.
    assert all(isinstance(i.data, str) for i in got if isinstance(i, CopyData))


def test_a_refusal_after_copy_data_in_a_streamed_file_names_its_line(tmp_path: Path) -> None:
    """The check passes over the data without counting its lines, so it looks again, counting them, to say where
    the refused statement is."""
    rows = 500_000
    sql = "COPY app.t (a, b) FROM stdin;\n" + "".join(f"{i}\tx\n" for i in range(rows)) + "\\.\nSELECT 1;\nCOMMIT;\n"
    assert len(sql) > render.STREAM_THRESHOLD
    (tmp_path / "migrate").mkdir()
    path = tmp_path / "migrate" / "20240101_000000_load.up.sql"
    path.write_text(sql)
    (file,) = discover(tmp_path, "migrate")
    migration = render.render(file, "up", render.TemplateContext())
    assert migration.sql is None  # streamed
    with pytest.raises(DiscoveryError) as caught:
        execute.statements_of(migration)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (path, rows + 4)
    assert "COMMIT" in problem.message


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_data_goes_as_file_bytes_with_crlf_as_lf(eol: bytes) -> None:
    """Raw blocks carry the file's bytes with CRLF as LF, like the lines the splitter read ahead (a mix of the two
    is refused by the server) and like the text the checksum is taken of. A lone CR is data and stays."""
    rows = b"".join(b"%d\tli\rne%s" % (i, eol) for i in range(150000))
    raw = b"COPY t FROM stdin;" + eol + rows + b"\\." + eol + b"SELECT 1;" + eol
    items = list(iter_statements(RawLines(io.BytesIO(raw))))
    chunks = [i.data for i in items if isinstance(i, CopyData)]
    raw_chunks = [c for c in chunks if isinstance(c, bytes)]
    assert len(raw_chunks) > 1 and chunks[-len(raw_chunks) :] == raw_chunks  # text read ahead, then raw blocks
    text = "".join(c for c in chunks if isinstance(c, str)).encode()
    assert text + b"".join(raw_chunks) == rows.replace(b"\r\n", b"\n")
    last = items[-1]
    assert isinstance(last, Statement) and last.text == "SELECT 1" and last.line == 150003


def test_raw_lines_decode_like_text_mode() -> None:
    raw = "\ufeffSELECT 'ż';\r\nSELECT 2;\nSELECT 3;".encode()
    assert list(RawLines(io.BytesIO(raw))) == ["SELECT 'ż';\n", "SELECT 2;\n", "SELECT 3;"]


@pytest.mark.parametrize("cut", range(1, 12))
def test_text_after_the_data_cut_inside_a_character(cut: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = "COPY t FROM stdin;\n1\n\\.\nSELECT 'żółw';\r\nSELECT 2;\n".encode()
    monkeypatch.setattr(sqltext, "_BATCH", 4)
    monkeypatch.setattr(copydata, "CHUNK", cut)
    statements = [i for i in iter_statements(RawLines(io.BytesIO(raw))) if isinstance(i, Statement)]
    assert [(s.text, s.line) for s in statements[1:]] == [("SELECT 'żółw'", 4), ("SELECT 2", 5)]


# sqlmig's own streaming, the same on every major: on the newest only (docs/testing.md).
NEWEST = pytest.mark.newest

# Statements of tens of megabytes in a streamed file. psycopg's pipeline sync flushes the connection once and then
# waits for results, so what the socket had not taken stayed in libpq's buffer: the server waited for the rest of
# the statement, sqlmig for its result, both forever (and every other instance for the lock). On loopback the
# server's receive window grows to tens of megabytes and the socket may take such a statement in the few flushes
# psycopg makes; over a network it takes it in many parts. The tests connect through a proxy with small buffers,
# which makes that so here too.
BIG = 24 << 20
CREATE = "CREATE TABLE public.t (id int PRIMARY KEY, note text);\n"


def _values(first: int, size: int) -> tuple[str, int]:
    """A multi-row INSERT of about ``size`` bytes, one row per line, ids from ``first``; and its row count."""
    row = "({}, '" + "v" * 90 + "')"
    count = size // (len(row) + 2)
    rows = ",\n".join(row.format(first + i) for i in range(count))
    return f"INSERT INTO public.t (id, note) VALUES\n{rows};\n", count


def _smalls(first: int, count: int) -> str:
    return "".join(f"INSERT INTO public.t VALUES ({first + i}, 'small {i}');\n" for i in range(count))


def _migrate(tmp_path: Path, sql: str) -> Path:
    assert len(sql) > render.STREAM_THRESHOLD  # streamed from the file, statement by statement
    return tree(tmp_path, {"migrate/20240101_000000_big.up.sql": sql})


@pytest.mark.timeout(120)
@NEWEST
def test_one_insert_of_tens_of_megabytes(db_url: str, db: Conn, tmp_path: Path) -> None:
    insert, rows = _values(0, BIG)
    directory = _migrate(tmp_path, CREATE + insert)
    with proxy(db_url) as url:
        assert sqlmig.apply(url, directory).names == ("20240101_000000_big",)
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (rows,)
    assert history(db) == ["20240101_000000_big"]


@pytest.mark.timeout(120)
@NEWEST
def test_one_string_literal_of_tens_of_megabytes(db_url: str, db: Conn, tmp_path: Path) -> None:
    literal = "żółw " * (BIG // 8)
    directory = _migrate(tmp_path, f"{CREATE}INSERT INTO public.t VALUES (1, '{literal}');\nSELECT 1;\n")
    with proxy(db_url) as url:
        sqlmig.apply(url, directory)
    assert db.execute("SELECT length(note), md5(note) = md5(%s) FROM public.t", (literal,)).fetchone() == (
        len(literal),
        True,
    )
    assert history(db) == ["20240101_000000_big"]


@pytest.mark.timeout(150)
@NEWEST
def test_large_statement_among_small_ones(db_url: str, db: Conn, tmp_path: Path) -> None:
    # Enough small statements on both sides for several pipeline syncs each.
    insert, rows = _values(100_000, BIG)
    directory = _migrate(tmp_path, CREATE + _smalls(0, 60_000) + insert + _smalls(60_000, 30_000))
    with proxy(db_url) as url:
        sqlmig.apply(url, directory)
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (90_000 + rows,)
    assert history(db) == ["20240101_000000_big"]


@pytest.mark.timeout(150)
@NEWEST
def test_errors_before_in_and_after_a_large_statement(db_url: str, db: Conn, tmp_path: Path) -> None:
    insert, _ = _values(100_000, BIG)
    head = CREATE + _smalls(0, 20_000)
    big_at = head.count("\n") + 1
    after = big_at + insert.count("\n")
    cases = {
        # a duplicate key among the small statements just before the large one: reported before it is sent
        "before": (head + "INSERT INTO public.t VALUES (5, 'dup');\n" + insert, big_at, 1, "23505"),
        # a bad value on the large statement's last row, a line of its own
        "in": (head + insert[:-2] + ",\n('x', 'y');\n", after, 2, "22P02"),
        "after": (head + insert + _smalls(0, 1), after, 1, "23505"),
    }
    for name, (sql, line, column, sqlstate) in cases.items():
        directory = _migrate(tmp_path / name, sql)
        with proxy(db_url) as url, pytest.raises(sqlmig.MigrationError) as caught:
            sqlmig.apply(url, directory)
        assert (caught.value.line, caught.value.column, caught.value.sqlstate) == (line, column, sqlstate), name
        assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,), name
        assert history(db) == [], name


@contextmanager
def proxy(url: str, after: int | None = None) -> Iterator[str]:
    """A URL that reaches ``url``'s server through a proxy with small buffers. With ``after``, on each connection
    it stops taking data from the client once it has forwarded that many bytes, and keeps the connection open:
    a proxy or balancer gone stuck."""
    params = conninfo_to_dict(url)
    host, port = str(params.get("host") or "/tmp"), int(params.get("port") or 5432)
    listener = socket.create_server(("127.0.0.1", 0))
    # A small receive buffer on the proxy's side: the client's socket takes a large statement in many parts.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    stop = threading.Event()
    sockets: list[socket.socket] = [listener]

    def upstream() -> socket.socket:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(f"{host}/.s.PGSQL.{port}")
            return sock
        return socket.create_connection((host, port))

    def pipe(src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        with suppress(OSError):  # the other side closed, or the test is over
            while limit is None or sent < limit:
                chunk = src.recv(min(65536, limit - sent) if limit is not None else 65536)
                if not chunk:
                    break
                dst.sendall(chunk)
                sent += len(chunk)
            stop.wait()  # stuck: the connection stays open, and nothing more is read

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            server = upstream()
            sockets.extend((client, server))
            threading.Thread(target=pipe, args=(client, server, after), daemon=True).start()
            threading.Thread(target=pipe, args=(server, client, None), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proxied = {**params, "host": "127.0.0.1", "port": str(listener.getsockname()[1])}
    try:
        yield make_conninfo(**proxied)
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            with suppress(OSError):
                sock.close()


@pytest.mark.timeout(90)
@NEWEST  # sqlmig's stall detection, through a proxy: the server's major plays no part
def test_a_connection_that_stops_taking_a_statement_is_reported(
    db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "STALL", 3.0)
    insert, rows = _values(0, BIG)
    directory = _migrate(tmp_path, CREATE + insert)
    started = time.monotonic()
    with proxy(db_url, after=2 << 20) as url, pytest.raises(sqlmig.ConnectError) as caught:
        sqlmig.apply(url, directory, lock_wait=5)
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert message.startswith(f"{directory / 'migrate' / '20240101_000000_big.up.sql'}:2: ")
    assert "took none of the statement sqlmig was sending for 3s" in message
    assert "ended the server's session" in message and "rolled back its open transaction" in message
    assert exits.exit_code(caught.value) == 5
    # The server's session is gone with its transaction and the lock: nothing applied, and a run right after works.
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
    assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,)
    assert sqlmig.apply(db_url, directory, lock_wait=5).names == ("20240101_000000_big",)
    assert db.execute("SELECT count(*) FROM public.t").fetchone() == (rows,)


def test_connections_probe_a_silent_server(db_url: str) -> None:
    settings = config.load(cwd=Path("/"), environ={}, database_url=db_url)
    with connection.connect(None, settings) as conn:
        params = conn.info.get_parameters()
    assert {k: params.get(k) for k in connection.LIVENESS} == connection.LIVENESS
    assert params.get("tcp_user_timeout") == connection.LIVENESS_TCP_USER_TIMEOUT_MS
    own = make_conninfo(db_url, keepalives_idle="7", tcp_user_timeout="9000")
    with connection.connect(None, config.load(cwd=Path("/"), environ={}, database_url=own)) as conn:
        params = conn.info.get_parameters()
    assert (params.get("keepalives_idle"), params.get("tcp_user_timeout")) == ("7", "9000")


def test_streamed_file_with_crlf_line_endings_and_copy_data(tmp_path: Path, db_url: str, db: Conn) -> None:
    """A pg_dump seed over 4 MiB checked out with CRLF (Windows, autocrlf) loads as the same file under 4 MiB does:
    its COPY data goes to the server with CRLF as LF throughout, the lines read ahead and the raw blocks alike."""
    rows = "".join(f"{i}\tname {i}\r\n" for i in range(400_000))
    text = (
        "CREATE TABLE public.s (id int, name text);\r\nCOPY public.s (id, name) FROM stdin;\r\n"
        + rows
        + "\\.\r\nINSERT INTO public.s VALUES (-1, 'end');\r\n"
    )
    assert len(text) > 4 << 20
    directory = tree(tmp_path / "m", {"migrate/20240101_000000_a.up.sql": text})
    sqlmig.apply(db_url, directory)
    assert db.execute("SELECT count(*) FROM public.s").fetchone() == (400_001,)
    assert db.execute("SELECT name FROM public.s WHERE id = 399999").fetchone() == ("name 399999",)


def test_copy_results_of_a_script_end(db: Conn, db_url: str) -> None:
    """A script's COPY ... TO STDOUT or FROM STDIN gives a result that does not end by itself. The rows of the one
    are read and dropped, the other is ended with an error, and the script's results go on to its end."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        results = wire.exchange(conn, "COPY (SELECT g FROM generate_series(1, 100000) g) TO STDOUT; SELECT 2")
        assert [r.status for r in results] == [psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK]
        assert results[-1].get_value(0, 0) == b"2"
        conn.execute("CREATE TEMP TABLE c (id int)")
        results = wire.exchange(conn, "COPY c FROM STDIN; SELECT 3")
        assert [r.status for r in results] == [psycopg.pq.ExecStatus.FATAL_ERROR]
        assert wire.NO_COPY_DATA.decode() in str(wire.error(conn, results[0]))
        assert conn.execute("SELECT 4").fetchone() == (4,)  # the connection is usable again
