"""Fan-out under faults, with real processes: a fan-out killed with SIGKILL, a worker's backend terminated, fan-outs
and shards started together, one target failing halfway. After each, every target's history must agree with its
effects, and a rerun (or the runs together) must leave every migration applied exactly once per target.

Every migration of every target logs itself once in ``public.log`` (the no-transaction file with an INSERT sent
with its progress write), so a migration that ran twice, or ran without its history row, shows there.
"""

from __future__ import annotations

import random
import re
import signal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sqlmig.targets import shard_of

from ..helpers import tree
from .checks import assert_no_advisory_lock
from .processes import Launcher, Runner, cli_up, cli_up_at_barrier, release_together, wait_until

Conn = psycopg.Connection[tuple[object, ...]]

TARGETS = [f"t{i:02d}" for i in range(12)]
COPY_ROWS = 40
NOTX_STATEMENTS, NOTX_LOG_STATEMENT = 4, 3  # no-transaction: build an index, sleep, log, build another index
# Each migration sleeps for faults.sleep_<key>, else faults.sleep, seconds (none unless the run's PGOPTIONS set
# them: the reruns do not sleep), naming its target so that a test can tell whose backend sleeps.
SLEEP = (
    "SELECT pg_sleep(coalesce(current_setting('faults.sleep_{key}', true), current_setting('faults.sleep', true),"
    " '0')::float8), {{{{ schema | literal }}}} AS sleeping_target;\n"
)
LOG = "INSERT INTO public.log (target, migration) VALUES ({{{{ schema | literal }}}}, '{key}');\n"
# A row that is not a number in the middle of the COPY of the target named by --var broken=…
BAD_ROW = "{% if schema == (broken | default('')) %}not a number\t0\n{% endif %}"
COPY_DATA = "".join(f"{i}\t{i * 10}\n" + (BAD_ROW if i == COPY_ROWS // 2 else "") for i in range(1, COPY_ROWS + 1))
BODIES = {
    "base": "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n"
    "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY, v int NOT NULL);\n",
    "copy": "COPY {{ schema | ident }}.items (id, v) FROM stdin;\n" + COPY_DATA + "\\.\n",
    "index": "-- sqlmig: no-transaction\n"
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_v_idx ON {{ schema | ident }}.items (v);\n",
    "finish": "ALTER TABLE {{ schema | ident }}.items ADD COLUMN done boolean NOT NULL DEFAULT true;\n",
}
KEYS = list(BODIES)
# What a file runs after its sleep and its log: the no-transaction file ends with another index.
AFTER = {"index": "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_v_id_idx ON {{ schema | ident }}.items (v, id);\n"}
# The no-transaction file's indexes, by the position of the statement that builds each.
INDEXES_AT = {"items_v_idx": 1, "items_v_id_idx": 4}
INDEXES = (
    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE c.relnamespace = to_regnamespace(%s) AND c.relname IN ('items_v_idx', 'items_v_id_idx')"
)
SHORT = "-c faults.sleep=0.05"  # the runs started together sleep a little in each migration, to overlap
# sqlmig's backends inside a statement or a transaction.
ACTIVITY = (
    "SELECT {columns} FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqlmig'"
    " AND state IN ('active', 'idle in transaction')"
)


def name_of(key: str) -> str:
    return f"2024010{KEYS.index(key) + 1}_000000_{key}"


def write(base: Path, keys: list[str], db: Conn) -> Path:
    """The migrate track of ``keys`` under ``base`` (returned), and the log table they write."""
    db.execute("CREATE TABLE public.log (target text NOT NULL, migration text NOT NULL)")
    text = {k: BODIES[k] + SLEEP.format(key=k) + LOG.format(key=k) + AFTER.get(k, "") for k in keys}
    return tree(base, {f"migrate/{name_of(k)}.up.sql": text[k] for k in keys})


def options(targets: list[str], *more: str) -> tuple[str, ...]:
    return ("--schemas", ",".join(targets), "--jobs", "4", "--json", *more)


def env(url: str, pgoptions: str = "") -> dict[str, str]:
    # client_connection_check_interval: a killed client's backend notices within 100 ms, even inside pg_sleep().
    return {"SQLMIG_DATABASE_URL": url, "PGOPTIONS": f"-c client_connection_check_interval=100 {pgoptions}"}


def applied_by(runner: Runner) -> dict[str, list[str]]:
    """What the runner's fan-out applied on each target, from its ``--json`` document."""
    return {t["target"]: t["applied"] for t in runner.outcome()["targets"]}


def rows(db: Conn) -> dict[str, dict[str, int | None]]:
    """Each target's history: its migrations in id order, with ``statements_done`` (None: complete)."""
    if db.execute("SELECT to_regclass('public.migration_history_targets')").fetchone() == (None,):
        return {}
    found: dict[str, dict[str, int | None]] = {}
    query = "SELECT target, name, statements_done FROM public.migration_history_targets ORDER BY id"
    for target, name, done in db.execute(query):
        found.setdefault(str(target), {})[str(name)] = None if done is None else int(str(done))
    return found


def completed(db: Conn) -> int:
    return sum(done is None for history in rows(db).values() for done in history.values())


def assert_consistent(db: Conn, targets: list[str], keys: list[str]) -> dict[str, list[str]]:
    """Each target's history is a prefix of the files, only its no-transaction file may be partial (and only as
    the last row), and it agrees with the effects: a migration logged once if recorded (the partial file's INSERT
    once its progress passed it), never otherwise; the COPY's rows, the indexes (valid) and the column exist
    exactly when their migrations are recorded. Returns each target's completed migrations."""
    history = rows(db)
    query = "SELECT target || '/' || migration, count(*) FROM public.log GROUP BY 1"
    logged = {str(key): int(str(times)) for key, times in db.execute(query)}
    complete: dict[str, list[str]] = {}
    for target in targets:
        mine = history.get(target, {})
        assert list(mine) == [name_of(k) for k in keys][: len(mine)], f"{target}: history {list(mine)}"
        partial = [n for n, done in mine.items() if done is not None]
        assert partial in ([], [name_of("index")]) and partial == [n for n in list(mine)[-1:] if n in partial]
        complete[target] = done = [n for n in mine if n not in partial]
        # The no-transaction file's statements that ran (all, when it is recorded complete).
        ran = NOTX_STATEMENTS if name_of("index") in done else mine.get(name_of("index")) or 0
        for key in keys:
            once = ran >= NOTX_LOG_STATEMENT if key == "index" else name_of(key) in done
            times = logged.get(f"{target}/{key}", 0)
            assert times == int(once), f"{target}: {key} logged {times} time(s), history {mine}"
        items = db.execute(sql.SQL("SELECT to_regclass({})").format(sql.Literal(f"{target}.items"))).fetchone()
        assert (items != (None,)) == (name_of("base") in done), f"{target}: items {items}, history {done}"
        if items != (None,):
            count = db.execute(sql.SQL("SELECT count(*) FROM {}.items").format(sql.Identifier(target))).fetchone()
            assert count == ((COPY_ROWS if name_of("copy") in done else 0),), f"{target}: {count} rows, {done}"
        indexes = {str(index): valid for index, valid in db.execute(INDEXES, (target,))}
        # The indexes of the statements that ran are valid; the next statement's may be left by a build that was
        # stopped (INVALID) or that completed unrecorded; none after it.
        for index, position in INDEXES_AT.items():
            if position <= ran:
                assert indexes.get(index) is True, f"{target}: {index} {indexes.get(index)} after {ran} statements"
            elif position > ran + 1:
                assert index not in indexes, f"{target}: {index} exists after {ran} statements"
        column = "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND column_name = 'done'"
        assert db.execute(column, (target,)).fetchone() == (int(name_of("finish") in done),), target
    return complete


def assert_complete(db: Conn, targets: list[str], keys: list[str]) -> None:
    """Every migration of every target applied exactly once, no partial row, no INVALID index, no lock left."""
    assert_no_advisory_lock(db)
    assert assert_consistent(db, targets, keys) == {t: [name_of(k) for k in keys] for t in targets}
    assert db.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid").fetchall() == []


# Where a kill lands, after a seeded number of migrations completed: anywhere; in a transaction after its COPY; between
# the statements of the no-transaction file; in its last CREATE INDEX CONCURRENTLY (which may leave an INVALID index).
KILL_POINTS = [
    pytest.param(11, None, id="anywhere"),
    pytest.param(22, "faults.sleep_copy", id="after-copy"),
    pytest.param(33, "faults.sleep_index", id="no-transaction"),
    pytest.param(44, "items_v_id_idx", id="concurrently"),
]


@pytest.mark.core  # on every major: the others run on the oldest and newest (docs/testing.md)
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("seed", "marker"), KILL_POINTS)
def test_a_killed_fanout_is_finished_by_a_rerun_exactly_once(
    seed: int, marker: str | None, db_url: str, db: Conn, tmp_path: Path, runners: Launcher
) -> None:
    """SIGKILL of a fan-out once a seeded number of migrations completed, while a statement (containing
    ``marker``) runs. Invariant: after the kill, every target's history agrees with its effects (nothing
    half-applied, a partial row only for the no-transaction file, and no lock once the backends end); the rerun
    applies exactly what each target lacked, and then every migration ran exactly once per target, the COPY's rows
    are there once, the indexes are valid and no INVALID one is left."""
    directory = write(tmp_path / "migrations", KEYS, db)
    total = len(TARGETS) * len(KEYS)
    # At most 4 targets run at once: with 24 migrations left, at least 2 targets have not started, so every kind
    # of statement is still to come.
    threshold = random.Random(seed).randint(2, total - 24)
    running = ACTIVITY.format(columns="query")
    killed = runners.start("killed", cli_up(directory, *options(TARGETS)), env(db_url, "-c faults.sleep=0.15"))
    wait_until(
        lambda: completed(db) >= threshold and any((marker or "") in str(q) for (q,) in db.execute(running)),
        timeout=30,
        what=f"{threshold} migrations to complete while a statement with {marker!r} runs",
        runners=[killed],
    )
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish(timeout=10) == -signal.SIGKILL
    assert_no_advisory_lock(db)  # once the killed runner's backends have ended
    before = assert_consistent(db, TARGETS, KEYS)
    assert threshold <= sum(map(len, before.values())) < total, before

    rerun = runners.start("rerun", cli_up(directory, *options(TARGETS)), env(db_url))
    assert rerun.finish(timeout=60) == 0, rerun.describe()
    assert applied_by(rerun) == {t: [name_of(k) for k in KEYS if name_of(k) not in before[t]] for t in TARGETS}
    assert_complete(db, TARGETS, KEYS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("key", ["copy", "index"])
def test_a_terminated_worker_backend_fails_only_its_target(
    key: str, db_url: str, db: Conn, tmp_path: Path, runners: Launcher
) -> None:
    """pg_terminate_backend of one worker's connection while its target sleeps in a migration (after a COPY in a
    transaction, or between the statements of a no-transaction file). Invariant: the fan-out ends; that target
    failed with a lost connection (or recovered) and its history holds exactly what ran before (the
    no-transaction file's first statement as progress); every other target is applied; a rerun applies exactly
    the rest of that target, and then every migration ran exactly once per target."""
    targets = TARGETS[:6]
    directory = write(tmp_path / "migrations", KEYS, db)
    run = runners.start("run", cli_up(directory, *options(targets)), env(db_url, f"-c faults.sleep_{key}=1.5"))
    sleeping = ACTIVITY.format(columns="pid, substring(query from $$'([^']*)' AS sleeping_target$$)")
    sleeping += " AND position(%s in query) > 0"
    pid, sleeper = wait_until(
        lambda: db.execute(sleeping, (f"faults.sleep_{key}",)).fetchone(), timeout=30, what="a sleep", runners=[run]
    )
    assert db.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    victim = str(sleeper)
    code = run.finish(timeout=40)

    results = {t["target"]: t for t in run.outcome()["targets"]}
    before = [name_of(k) for k in KEYS[: KEYS.index(key)]]
    outcome = results.pop(victim)
    assert {t: r["status"] for t, r in results.items()} == dict.fromkeys(results, "applied"), run.describe()
    if outcome["status"] == "failed":
        assert code == outcome["error"]["exit_code"] != 0
        assert re.search(r"terminat|connection", outcome["error"]["message"], re.IGNORECASE), outcome
        assert outcome["error"]["applied"] == before
    else:
        assert outcome["status"] == "applied" and code == 0, run.describe()
    after = assert_consistent(db, targets, KEYS)
    assert after[victim] == (before if outcome["status"] == "failed" else [name_of(k) for k in KEYS])
    # A terminated no-transaction file has its first statement (CREATE INDEX CONCURRENTLY) recorded as its progress.
    assert rows(db)[victim].get(name_of("index")) == (1 if outcome["status"] == "failed" and key == "index" else None)

    rerun = runners.start("rerun", cli_up(directory, *options(targets)), env(db_url))
    assert rerun.finish(timeout=60) == 0, rerun.describe()
    missing = [name_of(k) for k in KEYS if name_of(k) not in after[victim]]
    assert applied_by(rerun) == {t: missing if t == victim else [] for t in targets}
    assert_complete(db, targets, KEYS)


# Command lines released at the same moment over the same targets, by name: their options beside the targets.
TOGETHER = [
    pytest.param({"a": [], "b": []}, id="two-fanouts"),
    pytest.param({"shard1": ["--shard", "1/2"], "shard2": ["--shard", "2/2"], "all": []}, id="shards-and-all"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("runs", TOGETHER)
def test_fanouts_started_together_apply_each_migration_once(
    runs: dict[str, list[str]], db_url: str, db: Conn, tmp_path: Path, runners: Launcher
) -> None:
    """Two fan-out processes over the same twelve targets, or ``--shard 1/2``, ``--shard 2/2`` and a run of every
    target, released at the same moment, with short sleeps in every migration so that they overlap. Invariant:
    all exit 0, a shard takes exactly its part of the targets, each migration of each target is applied by exactly
    one run and ran exactly once, no lock is left."""
    directory = write(tmp_path / "migrations", KEYS, db)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    started = [
        runners.start(name, cli_up_at_barrier(barrier, directory, *options(TARGETS, *more)), env(db_url, SHORT))
        for name, more in runs.items()
    ]
    release_together(barrier, started)
    codes = [r.finish(timeout=60) for r in started]
    assert codes == [0] * len(started), "\n".join(r.describe() for r in started)
    applied = [applied_by(r) for r in started]
    for done, more in zip(applied, runs.values(), strict=True):
        if more:  # --shard I/2
            assert list(done) == [t for t in TARGETS if shard_of(t, 2) == int(more[1][0])], more
    by_target = {t: sorted(name for done in applied for name in done.get(t, [])) for t in TARGETS}
    assert by_target == {t: [name_of(k) for k in KEYS] for t in TARGETS}
    assert_complete(db, TARGETS, KEYS)


@pytest.mark.timeout(60)
def test_a_target_failing_halfway_leaves_the_others_correct(
    db_url: str, db: Conn, tmp_path: Path, runners: Launcher
) -> None:
    """One target's second of three migrations fails in the middle of its COPY data. Invariant: every other target
    is applied; the failing target's history holds exactly its first migration and none of the COPY's rows
    exist; a rerun with the fix applies exactly its last two, once."""
    keys = KEYS[:3]
    directory = write(tmp_path / "migrations", keys, db)
    broken = TARGETS[5]
    run = runners.start("run", cli_up(directory, *options(TARGETS), "--var", f"broken={broken}"), env(db_url))
    code = run.finish(timeout=60)
    applied = applied_by(run)
    error = next(t["error"] for t in run.outcome()["targets"] if t["target"] == broken)
    assert (code, error["sqlstate"], error["applied"]) == (error["exit_code"], "22P02", [name_of("base")]), error
    # The bad row's line in the file as written (the template line that makes it).
    assert (Path(error["path"]).name, error["line"]) == (f"{name_of('copy')}.up.sql", COPY_ROWS // 2 + 2), error
    assert code != 0 and applied == {t: [name_of(k) for k in (keys[:1] if t == broken else keys)] for t in TARGETS}
    assert assert_consistent(db, TARGETS, keys)[broken] == [name_of("base")]

    rerun = runners.start("rerun", cli_up(directory, *options(TARGETS)), env(db_url))
    assert rerun.finish(timeout=60) == 0, rerun.describe()
    assert applied_by(rerun) == {t: [name_of(k) for k in keys[1:]] if t == broken else [] for t in TARGETS}
    assert_complete(db, TARGETS, keys)
