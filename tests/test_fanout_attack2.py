"""Fan-out attacked again: the no-op check against randomized histories and against what the writers record
(baseline, accept, no-transaction files stopped part-way, seeds, --to); down, accept and baseline over targets;
--jobs beyond the connections the server gives, for up and for down, over schemas and over databases; and the
connections a fan-out holds.

Each test holds; those whose docstring starts with "Fixed:" failed before the fix it describes.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import make_conninfo

import sqlmig
from sqlmig.cli.commands import main
from sqlmig.model import Applied, MigrationFile, SqlFile, TableName, Track
from sqlmig.plan import up_plan
from sqlmig.run import history

from .fanout_helpers import cli_project, connection_limited_role, propagating_log
from .helpers import tree

pytestmark = pytest.mark.newest

Conn = psycopg.Connection[tuple[object, ...]]
TABLE = TableName("public", "migration_history")

SCHEMA, ITEMS, NOTES = "20240101_000000_schema", "20240102_000000_items", "20240103_000000_notes"
FILES = {
    f"migrate/{SCHEMA}.up.sql": "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n",
    f"migrate/{SCHEMA}.down.sql": (
        "DROP SCHEMA {{ schema | ident }};\nINSERT INTO public.log VALUES ({{ schema | literal }}, 'schema down');\n"
    ),
    f"migrate/{ITEMS}.up.sql": (
        "CREATE TABLE {{ schema | ident }}.items (id int PRIMARY KEY);\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items up');\n"
    ),
    f"migrate/{ITEMS}.down.sql": (
        "SELECT pg_sleep(0.05);\nDROP TABLE {{ schema | ident }}.items;\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'items down');\n"
    ),
    f"migrate/{NOTES}.up.sql": "CREATE TABLE {{ schema | ident }}.notes (body text);\n",
    f"migrate/{NOTES}.down.sql": (
        "DROP TABLE {{ schema | ident }}.notes;\n"
        "INSERT INTO public.log VALUES ({{ schema | literal }}, 'notes down');\n"
    ),
}


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def log_counts(db: Conn) -> Counter[tuple[str, str]]:
    return Counter((str(s), str(w)) for s, w in db.execute("SELECT schema, what FROM public.log"))


def target_rows(db: Conn, target: str) -> list[tuple[object, ...]]:
    """Every column of ``target``'s rows, in id order."""
    return db.execute(
        "SELECT * FROM public.migration_history_targets WHERE target = %s ORDER BY id", (target,)
    ).fetchall()


@pytest.fixture
def project(db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """A project in the working directory (migrations/ under it) whose DATABASE_URL is the test's database."""
    return cli_project(db, tmp_path, monkeypatch, db_url, FILES)


@pytest.fixture
def sqlmig_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    return propagating_log(caplog, monkeypatch)


@pytest.fixture
def limited_role(db: Conn) -> Iterator[str]:
    """A login role that owns the test's database, may write public.log and may hold two connections at a time."""
    with connection_limited_role(db, "sqlmig_attack2", write_tables=True) as role:
        yield role


# 1. The no-op check: which targets are current.

# What a target's row of one file can be: absent, exactly the file, edited, written with no checksum (adopted from
# another runner), a no-transaction file stopped part-way (with the file's checksum or an older one).
ROW_STATES = ("absent", "exact", "edited", "no checksum", "partial", "partial edited")
# Rows of no file: older than every file (a file removed), newer than every file (a newer release), between files.
EXTRA = ("20000101_000000_removed", "20991231_000000_newer", "20240101_120000_between")


def _sql_file(name: str, checksum: str) -> SqlFile:
    return SqlFile(Path(f"{name}.up.sql"), frozenset(), checksum, False, 0)


def _files(track: Track, count: int) -> list[MigrationFile]:
    first = 1 if track == "migrate" else 11
    names = [f"202401{first + n:02d}_000000_{track}_{n}" for n in range(count)]
    return [MigrationFile(track, n[:15], n, _sql_file(n, f"sum-{n}"), None) for n in names]


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Track, dict[Track, list[MigrationFile]], dict[str, list[Applied]], bool]:
    """A track, its files (and the migrate files for seeds), and a few targets' histories of any shape, some of them
    exactly the files. Whether the targets' table lost its UNIQUE (target, name), so that a row can be twice."""
    track: Track = draw(st.sampled_from(("migrate", "seed")))
    files: dict[Track, list[MigrationFile]] = {
        "migrate": _files("migrate", draw(st.integers(0, 4))),
        "seed": _files("seed", draw(st.integers(0, 3)) if track == "seed" else 0),
    }
    no_unique = draw(st.booleans())
    names = draw(st.lists(st.sampled_from(["t1", "T1", "t 2", "t'3", "é", "t,5", ""]), max_size=5, unique=True))
    histories: dict[str, list[Applied]] = {}
    for target in names:
        rows: list[Applied] = []
        for f in files["migrate"] + files["seed"]:
            state = draw(st.sampled_from(ROW_STATES)) if draw(st.booleans()) else "exact"  # most rows are exact
            if state == "absent":
                continue
            checksum = {"edited": "other", "no checksum": None, "partial edited": "older"}.get(state, f.up.checksum)
            done = 1 if state.startswith("partial") else None
            rows.append(Applied(f.name, f.track, f.version, checksum, None, None, done, 1 if done else None))
            if no_unique and draw(st.integers(0, 9)) == 0:  # the same file twice, as a hand-edited table can hold
                rows.append(rows[-1])
        for extra in draw(st.lists(st.sampled_from(EXTRA), max_size=2, unique=True)):
            kind: Track = draw(st.sampled_from(("migrate", "seed")))
            rows.append(Applied(extra, kind, extra[:15], "x", None, None))
        histories[target] = rows
    return track, files, histories, no_unique


def _store(conn: Conn, histories: dict[str, list[Applied]], no_unique: bool) -> None:
    conn.execute("TRUNCATE public.migration_history_targets")
    unique = "migration_history_targets_target_name_key"
    if no_unique:
        conn.execute(f"ALTER TABLE public.migration_history_targets DROP CONSTRAINT IF EXISTS {unique}")
    else:
        conn.execute(
            f"DO $$ BEGIN ALTER TABLE public.migration_history_targets ADD CONSTRAINT {unique} UNIQUE (target, name);"
            " EXCEPTION WHEN duplicate_table THEN NULL; END $$"
        )
    query = (
        "INSERT INTO public.migration_history_targets (target, name, type, version, checksum, statements_done,"
        " resume_line) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    with conn.cursor() as cur:
        rows = [
            (t, r.name, r.track, r.version, r.checksum, r.statements_done, r.resume_line)
            for t, rs in histories.items()
            for r in rs
        ]
        cur.executemany(query, rows)


def _exactly_the_files(rows: list[Applied], tracks: tuple[Track, ...], files: list[MigrationFile]) -> bool:
    """The model of the no-op check: the target has rows of ``tracks`` (one without is never called current, even
    with no files), and they are the files, each once, complete, with its checksum."""
    mine = sorted((r.track, r.name, r.checksum, r.partial) for r in rows if r.track in tracks)
    return bool(mine) and mine == sorted((f.track, f.name, f.up.checksum, False) for f in files)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleets())
@pytest.mark.timeout(120)
def test_the_no_op_check_never_calls_a_target_current_that_a_plan_finds_work_in(
    db: Conn, fleet: tuple[Track, dict[Track, list[MigrationFile]], dict[str, list[Applied]], bool]
) -> None:
    """For any history, a target the no-op query leaves out is one whose own plan is empty and raises nothing (the
    worst bug a fan-out can have is skipping a target with work), and it leaves out exactly the targets whose rows of
    the track are the files."""
    track, files, histories, no_unique = fleet
    history.ensure(db, TABLE.for_target(""), "missing")
    _store(db, histories, no_unique)
    tracks: tuple[Track, ...] = ("migrate",) if track == "migrate" else ("migrate", "seed")
    every = [f for t in tracks for f in files[t]]
    found = history.targets_behind(db, TABLE, list(histories), tracks, every)
    assert found is not None
    assert found == [t for t in histories if t in set(found)]  # in the targets' order
    for target, rows in histories.items():
        current = target not in found
        assert current == _exactly_the_files(rows, tracks, every), (target, rows)
        if current:
            plan = up_plan(files, rows, track, False)  # raises for drift, a gap, a missing file: never here
            assert not plan.steps, (target, rows)


@pytest.mark.timeout(60)
def test_a_row_twice_does_not_stand_for_a_pending_file(db_url: str, db: Conn, project: Path) -> None:
    """Fixed: the no-op query counted the rows matching a file, so in a table that lost its UNIQUE (target, name) a
    row there twice stood for a file never applied, the target was called current, and its pending migration was
    silently skipped. Now each file must be matched, and the target's own run reads its history and refuses it."""
    assert sqlmig.apply_all(db_url, project / "migrations", schemas=["t1", "t2"]).ok
    db.execute("ALTER TABLE public.migration_history_targets DROP CONSTRAINT migration_history_targets_target_name_key")
    db.execute("DELETE FROM public.migration_history_targets WHERE target = 't1' AND name = %s", (ITEMS,))
    db.execute(
        "INSERT INTO public.migration_history_targets (target, name, type, version, checksum)"
        " SELECT target, name, type, version, checksum FROM public.migration_history_targets"
        " WHERE target = 't1' AND name = %s",
        (SCHEMA,),
    )
    report = sqlmig.apply_all(db_url, project / "migrations", schemas=["t1", "t2"])
    assert [(r.target, r.status) for r in report.results] == [("t1", "failed"), ("t2", "current")]
    assert isinstance(report.results[0].error, sqlmig.HistoryTableError)
    assert "records 20240101_000000_schema more than once" in str(report.results[0].error)


NOTX, SEED = "20240104_000000_notx", "20240201_000000_rows"
TENANTS = ["done", "base", "acc", "part", "to", "Done", "o'dd, name"]


def _agree(track: str) -> dict[str, str]:
    """``status`` over the tenants, then ``up`` over them: ``up`` calls current exactly the targets in which
    ``status`` found nothing pending. Returns each target's outcome."""
    query = "SELECT name FROM public.tenants ORDER BY n"
    status = json.loads(run(track, "status", "--schemas-from", query, "--json").stdout)
    behind = {b["target"] for b in status["behind"]}
    up = json.loads(run(track, "up", "--schemas-from", query, "--json").stdout)
    outcome = {str(t["target"]): str(t["status"]) for t in up["targets"]}
    assert list(outcome) == TENANTS
    assert {t for t, s in outcome.items() if s == "current"} == set(TENANTS) - behind, (status, up)
    return outcome


@pytest.mark.timeout(60)
def test_the_no_op_check_agrees_with_status_on_what_the_writers_record(project: Path, db: Conn) -> None:
    """Baselined rows, accepted rows, a no-transaction file stopped part-way, seeds, a target brought up --to a
    version, names that differ by case and need quoting: after each step, ``up`` skips exactly the targets that
    ``status`` (each target's own plan) finds up to date, and finishes the others."""
    tree(
        project / "migrations",
        {
            f"migrate/{NOTX}.up.sql": (
                "-- sqlmig: no-transaction\n"
                "CREATE TABLE {{ schema | ident }}.x (id int);\n"
                "CREATE TABLE {{ schema | ident }}.y (id int);\n"
            ),
            f"seed/{SEED}.up.sql": "INSERT INTO {{ schema | ident }}.items VALUES (1);\n",
        },
    )
    db.execute("CREATE TABLE public.tenants (n int, name text)")
    db.cursor().executemany("INSERT INTO public.tenants VALUES (%s, %s)", list(enumerate(TENANTS)))
    db.execute("CREATE SCHEMA part; CREATE TABLE part.y (id int)")  # stops the no-transaction file in part
    assert run("migrate", "up", "--schemas", "to", "--to", "20240102_000000").exit_code == 0
    assert run("migrate", "up", "--schemas", "base").exit_code == 0  # its objects, then a lost history
    db.execute("DELETE FROM public.migration_history_targets WHERE target = 'base'")
    assert run("migrate", "baseline", "--to", "20240104_000000", "--schemas", "base").exit_code == 0

    first = _agree("migrate")
    assert first == {**dict.fromkeys(TENANTS, "applied"), "base": "current", "part": "failed"}
    partial = db.execute(
        "SELECT statements_done FROM public.migration_history_targets WHERE target = 'part' AND name = %s", (NOTX,)
    ).fetchone()
    assert partial == (1,)
    assert run("seed", "up", "--schemas", "done").exit_code == 0
    db.execute(
        "UPDATE public.migration_history_targets SET checksum = 'stale' WHERE target = 'acc' AND name = %s", (ITEMS,)
    )
    second = _agree("migrate")
    assert second == {**dict.fromkeys(TENANTS, "current"), "acc": "failed", "part": "failed"}
    errors = json.loads(run("migrate", "up", "--schemas", "acc", "--json").stdout)["targets"][0]["error"]["message"]
    printed = shlex.split(errors.split("record the new checksum with: ", 1)[1].splitlines()[0])
    assert printed[:3] == ["sqlmig", "migrate", "accept"] and run(*printed[1:]).exit_code == 0  # as printed
    db.execute("DROP TABLE part.y")
    assert _agree("migrate") == {**dict.fromkeys(TENANTS, "current"), "part": "applied"}
    assert _agree("seed") == {**dict.fromkeys(TENANTS, "applied"), "done": "current"}
    assert _agree("migrate") == _agree("seed") == dict.fromkeys(TENANTS, "current")
    ran = log_counts(db)
    assert all(ran[(t, "items up")] == 1 for t in TENANTS), ran  # no target ran a migration twice


# 2. down, accept and baseline over targets.


@pytest.mark.timeout(60)
def test_down_with_more_jobs_than_connections_rolls_back_every_target_once(
    project: Path, db: Conn, db_url: str, limited_role: str, sqlmig_log: pytest.LogCaptureFixture
) -> None:
    """Fixed: ``migrate down --jobs N`` beyond the server's connections died with a traceback (the refused worker's
    NoConnection escaped the rollback's own pool) after rolling back some targets, and printed no summary. Its pool
    is now ``up``'s: a refused worker hands its target to the others."""
    names = [f"t{i}" for i in range(8)]
    url = make_conninfo(db_url, user=limited_role)
    assert sqlmig.apply_all(url, project / "migrations", schemas=names, jobs=2).ok
    result = run("migrate", "down", "--schemas", ",".join(names), "--jobs", "6", "--database-url", url, "--json")
    document = json.loads(result.stdout)
    assert (result.exit_code, document["summary"]) == (0, {"applied": 8, "current": 0, "failed": 0, "skipped": 0}), (
        result.stdout
    )
    assert all(t["applied"] == [NOTES] for t in document["targets"])
    assert log_counts(db) == Counter({**{(t, "items up"): 1 for t in names}, **{(t, "notes down"): 1 for t in names}})
    said = [r.getMessage() for r in sqlmig_log.records if r.getMessage().startswith("--jobs 6: ")]
    assert said and said[0].endswith(("running 2 at a time", "running 1 at a time")), said


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", [{"all": True}, {"to": "20240101_000000"}], ids=["all", "to"])
def test_two_rollbacks_at_once_roll_each_migration_back_once(
    project: Path, db: Conn, db_url: str, how: dict[str, object]
) -> None:
    names = [f"t{i}" for i in range(6)]
    directory = project / "migrations"
    assert sqlmig.apply_all(db_url, directory, schemas=names).ok
    reports: list[sqlmig.FanoutReport] = []

    def roll_back() -> None:
        reports.append(sqlmig.rollback_all(db_url, directory, schemas=names, jobs=3, **how))  # type: ignore[arg-type]

    threads = [threading.Thread(target=roll_back) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 2 and all(r.ok for r in reports)
    for name in names:  # each target rolled back by one of them, or partly by each
        done = [m for r in reports for t in r.results if t.target == name for m in t.applied]
        expected = [NOTES, ITEMS, SCHEMA] if how.get("all") else [NOTES, ITEMS]
        assert sorted(done) == sorted(expected), (name, done)
    downs = Counter(w for (_, w), n in log_counts(db).items() for _ in range(n) if w.endswith("down"))
    assert downs == Counter({"notes down": 6, "items down": 6, **({"schema down": 6} if how.get("all") else {})})


@pytest.mark.timeout(60)
def test_each_target_changes_only_its_own_rows_and_schema(project: Path, db: Conn, db_url: str) -> None:
    """down, accept and baseline on one target leave every other target's rows (every column) and schema as they
    were, and the ordinary history too."""
    assert run("migrate", "up", "--schemas", "a,b,A").exit_code == 0
    assert run("migrate", "up", "--schema", "z").exit_code == 0  # the ordinary history, beside the targets'
    stale = "UPDATE public.migration_history_targets SET checksum = 'stale' WHERE name = %s"
    db.execute(stale, (ITEMS,))  # every target drifted
    tables = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> 'a' ORDER BY 1, 2"
    ordinary = "SELECT * FROM public.migration_history ORDER BY id"
    before = (
        [target_rows(db, "b"), target_rows(db, "A")],
        db.execute(tables).fetchall(),
        db.execute(ordinary).fetchall(),
    )
    assert run("migrate", "accept", ITEMS, "--schemas", "a").exit_code == 0
    assert run("migrate", "down", "--schemas", "a", "--all").exit_code == 0
    assert run("migrate", "baseline", "--to", "20240102_000000", "--schemas", "a").exit_code == 0
    after = (
        [target_rows(db, "b"), target_rows(db, "A")],
        db.execute(tables).fetchall(),
        db.execute(ordinary).fetchall(),
    )
    assert after == before
    assert [r[2] for r in target_rows(db, "a")] == [SCHEMA, ITEMS]  # id, target, name, …
    assert db.execute("SELECT to_regnamespace('a') IS NULL").fetchone() == (True,)  # its down dropped it


@pytest.mark.timeout(60)
def test_the_baseline_a_target_is_advised_names_it_and_works_as_printed(project: Path, db: Conn) -> None:
    """Fixed: a target whose first migration finds its objects already there (a schema brought up by ordinary
    runs, or a lost history) was told to run 'sqlmig migrate baseline --to VERSION', which records the ordinary
    history, not the target's; run as printed, it changed the wrong history and the target failed again."""
    db.execute("CREATE SCHEMA t1; CREATE TABLE t1.items (id int PRIMARY KEY)")
    tree(project / "migrations", {f"migrate/{SCHEMA}.up.sql": FILES[f"migrate/{ITEMS}.up.sql"]})
    (project / "migrations" / "migrate" / f"{ITEMS}.up.sql").unlink()
    (project / "migrations" / "migrate" / f"{ITEMS}.down.sql").unlink()
    failed = json.loads(run("migrate", "up", "--schemas", "t1", "--json").stdout)["targets"][0]["error"]
    assert failed["sqlstate"] == "42P07"
    printed = shlex.split(failed["hint"].split("database with ", 1)[1].strip("'"))
    assert printed == ["sqlmig", "migrate", "baseline", "--to", "VERSION", "--schemas", "t1"]
    printed[printed.index("VERSION")] = "20240101_000000"
    assert run(*printed[1:]).exit_code == 0
    again = json.loads(run("migrate", "up", "--schemas", "t1", "--json").stdout)["targets"][0]
    assert (again["status"], again["applied"]) == ("applied", [NOTES])  # past what was already there
    assert db.execute("SELECT to_regclass('public.migration_history') IS NULL").fetchone() == (True,)


@pytest.mark.timeout(60)
def test_rollback_all_never_takes_the_configured_targets(project: Path, db: Conn, db_url: str) -> None:
    (project / "pyproject.toml").write_text('[tool.sqlmig]\n[tool.sqlmig.targets]\nschemas = ["a", "b"]\n')
    assert run("migrate", "up").exit_code == 0
    before = target_rows(db, "a") + target_rows(db, "b")
    with pytest.raises(sqlmig.ConfigError, match="never fall back to"):
        sqlmig.rollback_all(db_url, project / "migrations", all=True)
    refused = run("migrate", "down", "--all", "--yes")
    assert refused.exit_code == 2 and "--schemas a,b" in refused.output
    assert target_rows(db, "a") + target_rows(db, "b") == before


# 3. --jobs beyond the server's connections.


@pytest.mark.timeout(60)
def test_a_limited_role_with_failures_canary_and_max_failures_runs_no_target_twice_and_loses_none(
    project: Path, db: Conn, db_url: str, limited_role: str
) -> None:
    """24 targets, --jobs 8 on a role that may hold two connections, every fifth target failing: whatever the
    canary and the failure limit, each target is reported once, a failed one ran its migration once and rolled it
    back, a skipped one ran nothing, and reruns finish exactly the targets that can be finished."""
    tree(
        project / "migrations",
        {
            f"migrate/{NOTES}.up.sql": "SELECT pg_sleep(0.02);\n"
            "CREATE TABLE {{ schema | ident }}.notes (n int CHECK (n > 0));\n"
            "INSERT INTO {{ schema | ident }}.notes VALUES ({{ n }});\n"
        },
    )
    db.execute("CREATE TABLE public.tenants (name text, n int)")
    db.execute(
        "INSERT INTO public.tenants SELECT 'u' || g, CASE WHEN g % 5 = 0 THEN 0 ELSE 1 END"
        " FROM generate_series(1, 24) g"
    )
    db.execute(sql.SQL("GRANT SELECT ON public.tenants TO {}").format(sql.Identifier(limited_role)))
    url = make_conninfo(db_url, user=limited_role)
    query = "SELECT name, n FROM public.tenants ORDER BY name"
    for policy in ({"canary": 3, "max_failures": 2}, {"max_failures": 3}, {}, {}):
        report = sqlmig.apply_all(url, project / "migrations", schemas_from=query, jobs=8, **policy)  # type: ignore[arg-type]
        assert sorted(r.target for r in report.results) == sorted(f"u{g}" for g in range(1, 25))
        for result in report.results:
            names = [r[2] for r in target_rows(db, result.target)]
            if result.status == "failed":
                assert isinstance(result.error, sqlmig.MigrationError) and result.error.sqlstate == "23514"
                assert names == [SCHEMA, ITEMS], result
            elif result.status in ("applied", "current"):
                assert names == [SCHEMA, ITEMS, NOTES], result
    assert [r.status for r in report.results].count("failed") == 4  # u5, u10, u15, u20: the rest finished
    assert all(n == 1 for n in log_counts(db).values())  # no migration ran twice in a target
    assert len(log_counts(db)) == 24


@pytest.mark.timeout(60)
def test_one_database_at_its_own_connection_limit_fails_alone(
    project: Path, db: Conn, db_url: str, sqlmig_log: pytest.LogCaptureFixture
) -> None:
    """Fixed: over --databases-from, a database refusing connections at its own CONNECTION LIMIT took every worker
    that tried it out of the pool ("--jobs 4: the server took 1 connection; running 1 at a time"), and the other
    databases ran one at a time. It is that database's refusal only: it fails, as an ordinary run on it would, and
    the others run on every worker."""
    names = [f"sqlmig_attack2_{uuid.uuid4().hex[:10]}" for _ in range(4)]
    role = f"sqlmig_attack2_{uuid.uuid4().hex[:10]}"  # not a superuser: the server does not limit those
    db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        for name in names:
            db.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
        db.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(sql.Identifier(names[1])))
        listed = project / "databases.txt"
        listed.write_text("".join(make_conninfo(db_url, user=role, dbname=n) + "\n" for n in names))
        tree(project / "migrations", {f"migrate/{SCHEMA}.up.sql": "CREATE TABLE t (id int);\n"})
        for path in (project / "migrations" / "migrate").iterdir():
            if path.name != f"{SCHEMA}.up.sql":
                path.unlink()
        report = sqlmig.apply_all(db_url, project / "migrations", databases_from=str(listed), jobs=4)
        assert [r.status for r in report.results] == ["applied", "failed", "applied", "applied"]
        assert "too many connections for database" in str(report.results[1].error)
        assert not [r.getMessage() for r in sqlmig_log.records if r.getMessage().startswith("--jobs")]
    finally:
        for name in names:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# 4. The connections a fan-out holds.


def _sqlmig_backends(db: Conn) -> int:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqlmig'"
        " AND pid <> pg_backend_pid()"
    )
    found = db.execute(query).fetchone()
    return int(str(found[0])) if found else 0


@pytest.mark.timeout(60)
def test_a_fanout_never_holds_more_than_jobs_connections_while_targets_run(
    project: Path, db: Conn, db_url: str
) -> None:
    """The connection that chose the targets (--schemas-from) and read their histories is closed before they run:
    up and down hold at most --jobs connections while targets run."""
    tree(
        project / "migrations",
        {f"migrate/{NOTES}.up.sql": "SELECT pg_sleep(0.1);\n", f"migrate/{NOTES}.down.sql": "SELECT pg_sleep(0.1);\n"},
    )
    db.execute("CREATE TABLE public.tenants AS SELECT 'v' || g AS name FROM generate_series(1, 10) g")
    query = "SELECT name FROM public.tenants"
    for command in ("up", "down"):
        result, seen = _backends_while_targets_run(db_url, "migrate", command, "--schemas-from", query, "--jobs", "3")
        assert result.exit_code == 0, result.output
        assert seen and max(seen) <= 3 and 3 in seen, (command, seen)


def _backends_while_targets_run(db_url: str, *args: str) -> tuple[click.testing.Result, list[int]]:
    """The command line ``args``'s result, and the number of sqlmig's connections to the database sampled while it
    runs targets (each sleeping in ``pg_sleep(0.1)``), from 0.2 s after the first one started: the server process
    of a closed connection takes a moment to exit, and the connection that chose the targets must be gone by
    then."""
    seen: list[int] = []
    stop = threading.Event()
    sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.1)%' AND pid <> pg_backend_pid()"

    def sample() -> None:
        with psycopg.connect(db_url, autocommit=True) as watcher:
            first: float | None = None
            while not stop.is_set():
                if first is None and watcher.execute(sleeping).fetchone() != (0,):
                    first = time.monotonic()
                if first is not None and time.monotonic() > first + 0.2:
                    seen.append(_sqlmig_backends(watcher))
                time.sleep(0.01)

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        result = run(*args)
    finally:
        stop.set()
        watcher.join()
    return result, seen


@pytest.mark.timeout(60)
def test_errors_choosing_targets_or_reading_histories_leave_no_connection_open(
    project: Path, db: Conn, db_url: str
) -> None:
    directory = project / "migrations"
    errors: list[sqlmig.SqlmigError] = []  # kept: a connection they still reach must be closed all the same
    for bad in ("SELECT nope FROM pg_class", "SELECT 1 / 0", "SELECT 'a'; SELECT 'b'"):
        for call in (sqlmig.apply_all, sqlmig.rollback_all):
            with pytest.raises(sqlmig.ConfigError) as caught:
                call(db_url, directory, schemas_from=bad)
            errors.append(caught.value)
    # A targets' table made by hand without sqlmig's columns: the no-op query fails.
    db.execute("CREATE TABLE public.migration_history_targets (id serial, target text, name text, type text)")
    with pytest.raises(sqlmig.SqlmigError) as failed:
        sqlmig.apply_all(db_url, directory, schemas=["a"])
    errors.append(failed.value)
    deadline = time.monotonic() + 5  # a closed connection's server process exits in a moment; an open one stays
    while _sqlmig_backends(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sqlmig_backends(db) == 0, errors
