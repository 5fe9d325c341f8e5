"""The one retry policy after a lock timeout (run, migration and statement scope) and the one walk over a stream of
statements that the pipelined and the no-transaction paths share."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

import sqlmig
from sqlmig.run import contention
from sqlmig.run.contention import Attempt, Limits
from sqlmig.run.stream import Statements
from sqlmig.sqltext import CopyData, Statement

from .helpers import history, tree

Conn = psycopg.Connection[tuple[object, ...]]
A = "migrate/20240101_000000_create_a"
B = "migrate/20240102_000000_alter_a"


@pytest.mark.parametrize(
    ("retries", "expected"),
    [
        (0, [Attempt(0, True)]),
        (1, [Attempt(0, False), Attempt(1, True)]),
        (3, [Attempt(0, False), Attempt(1, False), Attempt(2, False), Attempt(3, True)]),
    ],
)
def test_attempts_wait_the_doubling_backoff_between_tries(
    retries: int, expected: list[Attempt], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(contention.time, "sleep", pauses.append)
    caplog.set_level(logging.WARNING, logger="sqlmig")
    limits = Limits("1s", "0", retries)
    assert list(_until_last(contention.attempts(limits, "20240101_000000_x", "rolled back"))) == expected
    assert len(pauses) == retries
    for number, pause in enumerate(pauses):  # 1 s doubled each time, within the jitter of +-20%
        assert 0.8 * 2**number <= pause <= 1.2 * 2**number
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == retries
    assert all(
        m.startswith("20240101_000000_x: lock_timeout (1s) reached; rolled back, trying again") for m in messages
    )
    assert [m.endswith(f"({n} of {retries})") for n, m in enumerate(messages, 1)] == [True] * retries


def _until_last(attempts: Iterator[Attempt]) -> Iterator[Attempt]:
    for attempt in attempts:
        yield attempt
        if attempt.last:
            return


def test_a_try_after_the_last_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contention.time, "sleep", lambda _: None)
    with pytest.raises(RuntimeError, match="a try after the last of 2"):
        for _ in contention.attempts(Limits("5s", "0", 1), "run", "rolled back"):
            continue


def _st(text: str, copy: bool = False) -> Statement:
    return Statement(text=text, line=1, column=1, copy=copy)


S1, S2, C1 = _st("SELECT 1"), _st("SELECT 2"), _st("COPY t FROM stdin", copy=True)
D1, D2 = CopyData(b"1\n"), CopyData(b"2\n")


@pytest.mark.parametrize(
    ("items", "take_data", "walked"),
    [
        ([], True, []),
        ([S1, S2], True, [("SELECT 1", [], "SELECT 2"), ("SELECT 2", [], None)]),
        ([C1, D1, D2, S1], True, [("COPY t FROM stdin", [D1, D2], "SELECT 1"), ("SELECT 1", [], None)]),
        # Data not taken (a COPY that completed in an earlier run) is passed over.
        ([C1, D1, D2, S1], False, [("COPY t FROM stdin", None, None), ("SELECT 1", None, None)]),
        ([S1, C1, D1], True, [("SELECT 1", [], "COPY t FROM stdin"), ("COPY t FROM stdin", [D1], None)]),
    ],
)
def test_statements_walk_hands_each_statement_its_copy_data(
    items: list[Statement | CopyData],
    take_data: bool,
    walked: list[tuple[str, list[CopyData] | None, str | None]],
) -> None:
    walk = Statements(items)
    seen: list[tuple[str, list[CopyData] | None, str | None]] = []
    for statement in walk:
        if take_data:
            data = list(walk.data())
            following = walk.following()
            seen.append((statement.text, data, following.text if following else None))
        else:
            seen.append((statement.text, None, None))
    assert seen == walked


def test_statements_walk_reads_nothing_ahead_unasked() -> None:
    read: list[str] = []

    def items() -> Iterator[Statement | CopyData]:
        for text in ("SELECT 1", "SELECT 2"):
            read.append(text)
            yield _st(text)

    walk = iter(Statements(items()))
    assert next(walk).text == "SELECT 1" and read == ["SELECT 1"]


@contextmanager
def exclusive_lock(db_url: str, table: str, release_after: float | None) -> Iterator[None]:
    """A session holding ACCESS EXCLUSIVE on ``table``; with ``release_after``, it commits after that long."""
    conn = psycopg.connect(db_url, application_name="maintenance")
    conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    timer = threading.Timer(release_after, conn.commit) if release_after is not None else None
    if timer:
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.join()
        conn.close()


NO_TX = {
    # a statement that runs with its progress write in one implicit transaction
    "together": "-- sqlmig: no-transaction\nSELECT 1;\nALTER TABLE public.a ADD COLUMN b int;\nSELECT 2;\n",
    # a statement that PostgreSQL runs only outside a transaction, on its own
    "alone": "-- sqlmig: no-transaction\nSELECT 1;\nCREATE INDEX CONCURRENTLY a_id ON public.a (id);\nSELECT 2;\n",
}


def _second_file(db_url: str, tmp_path: Path, up: str) -> None:
    tree(tmp_path, {f"{A}.up.sql": "CREATE TABLE public.a (id int);\n"})
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {f"{B}.up.sql": up})


@pytest.mark.parametrize("kind", sorted(NO_TX))
def test_no_transaction_statement_is_retried_after_a_lock_timeout(
    kind: str, db_url: str, db: Conn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _second_file(db_url, tmp_path, NO_TX[kind])
    caplog.set_level(logging.INFO, logger="sqlmig")
    with exclusive_lock(db_url, "public.a", release_after=0.4):
        report = sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=6)
    assert report.names == ("20240102_000000_alter_a",)
    retried = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert retried and all(m.startswith("20240102_000000_alter_a, statement 2 (line 3):") for m in retried)
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_alter_a"]


@pytest.mark.parametrize("kind", sorted(NO_TX))
def test_no_transaction_statement_gives_up_after_the_last_try(
    kind: str, db_url: str, db: Conn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _second_file(db_url, tmp_path, NO_TX[kind])
    caplog.set_level(logging.INFO, logger="sqlmig")
    with exclusive_lock(db_url, "public.a", release_after=None), pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path, lock_timeout="50ms", lock_retries=2)
    err = info.value
    assert (err.sqlstate, err.line) == ("55P03", 3)
    assert "tried 3 time(s) with lock_timeout=50ms" in (err.detail or "")
    assert len([r for r in caplog.records if "trying again" in r.getMessage()]) == 2
    # Statement 1 completed and is recorded as progress; the rerun continues at line 3.
    progress = db.execute(
        "SELECT statements_done, resume_line FROM public.migration_history WHERE name = '20240102_000000_alter_a'"
    ).fetchone()
    assert progress == (1, 3)
    report = sqlmig.apply(db_url, tmp_path)
    assert report.names == ("20240102_000000_alter_a",)
    assert history(db) == ["20240101_000000_create_a", "20240102_000000_alter_a"]
