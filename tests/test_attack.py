"""Attacks on the restructured core: the Migrator's guarded section and the configuration search, the one retry
policy, the one statement walk and COPY data, seeds forgotten on a full rollback, ``up --to``, and several
processes at once with one killed.

What holds is kept as ordinary tests. What is broken is an ``xfail(strict=True)`` test that states the promise: it
fails (and so must be turned into an ordinary test) once the bug is fixed.
"""

from __future__ import annotations

import importlib.util
import json
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig import Migrator
from sqlmig.cli.commands import main

from .faults.checks import assert_no_advisory_lock, sleeping_backend
from .faults.processes import WAITING_LOG, Launcher, Runner, wait_until, worker
from .faults.scenario import SLOW_ENV
from .helpers import history, tree

Conn = psycopg.Connection[tuple[object, ...]]
NOTX = "-- sqlmig: no-transaction\n"
TABLE_T = {"migrate/20240101_000000_t.up.sql": "CREATE TABLE public.t (a int, b text);\n"}


def scalar(db: Conn, query: str) -> object:
    row = db.execute(query).fetchone()
    assert row is not None
    return row[0]


def progress_rows(db: Conn) -> list[tuple[object, ...]]:
    return db.execute("SELECT name, statements_done FROM public.migration_history ORDER BY id").fetchall()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    runners = Launcher(tmp_path / "runners")
    try:
        yield runners
    finally:
        runners.stop_all()


# --- COPY data and the one statement walk -----------------------------------------------------------------------

# Every shape of COPY block in one file: two in a row, an empty one, CSV data whose quoted field spans lines and
# holds "\.", and a last one that runs to the end of the file without its "\." line (as psql reads it).
COPY_SHAPES = (
    "COPY public.t (a) FROM stdin;\n1\n\\.\nCOPY public.t (a) FROM stdin;\n2\n\\.\n"
    "COPY public.t (a) FROM stdin;\n\\.\n"
    'COPY public.t (a, b) FROM stdin WITH (FORMAT csv);\n3,"multi\nline"\n4,"\\."\n\\.\n'
    "INSERT INTO public.t VALUES (5);\n"
    "COPY public.t (a) FROM stdin;\n6\n7"
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("head", ["", NOTX], ids=["transactional", "no-transaction"])
def test_every_shape_of_copy_block_runs_once(db_url: str, db: Conn, tmp_path: Path, head: str) -> None:
    tree(tmp_path, {**TABLE_T, "migrate/20240102_000000_c.up.sql": head + COPY_SHAPES})
    assert sqlmig.apply(db_url, tmp_path).names == ("20240101_000000_t", "20240102_000000_c")
    rows = db.execute("SELECT a, b FROM public.t ORDER BY a").fetchall()
    assert rows == [(1, None), (2, None), (3, "multi\nline"), (4, "\\."), (5, None), (6, None), (7, None)]
    assert progress_rows(db) == [("20240101_000000_t", None), ("20240102_000000_c", None)]


@pytest.mark.timeout(60)
def test_copy_failing_mid_data_names_the_row_and_the_resume_does_not_copy_twice(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    up = (
        NOTX + "INSERT INTO public.log VALUES (1);\n"  # line 2
        "COPY public.t (a, b) FROM stdin;\n1\tx\n2\ty\n\\.\n"  # lines 3-6
        "COPY public.t (a, b) FROM stdin;\n3\tz\nBAD\tq\n\\.\n"  # lines 7-10, the bad row on line 9
        "COPY public.t (a, b) FROM stdin;\n5\tw\n\\.\n"
        "INSERT INTO public.log VALUES (2);\n"
    )
    files = {**TABLE_T, "migrate/20240101_000001_log.up.sql": "CREATE TABLE public.log (x int);\n"}
    tree(tmp_path, {**files, "migrate/20240102_000000_c.up.sql": up})
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(db_url, tmp_path)
    assert (info.value.line, info.value.sqlstate, info.value.resumable) == (9, "22P02", True)
    assert scalar(db, "SELECT count(*) FROM public.t") == 2  # the failed COPY left no row of its own
    assert progress_rows(db)[-1] == ("20240102_000000_c", 2)

    tree(tmp_path, {"migrate/20240102_000000_c.up.sql": up.replace("BAD", "4")})
    assert sqlmig.apply(db_url, tmp_path).names == ("20240102_000000_c",)
    assert db.execute("SELECT a FROM public.t ORDER BY a").fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    assert db.execute("SELECT x FROM public.log ORDER BY x").fetchall() == [(1,), (2,)]
    assert progress_rows(db)[-1] == ("20240102_000000_c", None)


@pytest.mark.timeout(60)
def test_no_transaction_copy_is_retried_after_a_lock_timeout(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(tmp_path, dict[str, str | bytes](TABLE_T))
    sqlmig.apply(db_url, tmp_path)
    tree(tmp_path, {"migrate/20240102_000000_c.up.sql": NOTX + "SELECT 1;\nCOPY public.t (a) FROM stdin;\n1\n\\.\n"})
    other = psycopg.connect(db_url)
    other.execute("LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(0.4, other.commit)
    release.start()
    try:
        # A plain statement in the same place is retried and succeeds (tests/test_retry.py).
        report = sqlmig.apply(db_url, tmp_path, lock_timeout="100ms", lock_retries=6)
    finally:
        release.join()
        other.close()
    assert report.names == ("20240102_000000_c",)
    assert scalar(db, "SELECT count(*) FROM public.t") == 1


# --- session state on a connection the caller passes in -----------------------------------------------------------

STATE = "SELECT current_setting('search_path'), current_user, session_user, current_setting('lock_timeout')"


@pytest.mark.timeout(60)
def test_set_role_and_search_path_in_files_do_not_outlive_them(db_url: str, db: Conn, tmp_path: Path) -> None:
    db.execute("CREATE SCHEMA s1; CREATE ROLE sqlmig_attack_owner; GRANT ALL ON SCHEMA s1 TO sqlmig_attack_owner")
    try:
        switch = "SET search_path TO s1;\nSET ROLE sqlmig_attack_owner;\nSET lock_timeout = '7s';\n"
        tree(
            tmp_path,
            {
                "migrate/20240101_000000_a.up.sql": switch + "CREATE TABLE a1 (x int);\n",
                "migrate/20240102_000000_b.up.sql": NOTX + switch + "CREATE TABLE b1 (x int);\n",
                "migrate/20240103_000000_c.up.sql": switch + "CREATE TABLE c1 (x int);\nCOPY c1 FROM stdin;\n1\n\\.\n",
                "migrate/20240104_000000_d.up.sql": "CREATE TABLE d1 (x int);\n",
            },
        )
        with psycopg.connect(db_url, autocommit=True) as conn:
            before = conn.execute(STATE).fetchone()
            sqlmig.apply(conn, tmp_path)
            assert conn.execute(STATE).fetchone() == before
            assert conn.execute("SELECT 1").fetchone() == (1,)  # psycopg's own statements still work
        owners = db.execute(
            "SELECT n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ('a1', 'b1', 'c1', 'd1') ORDER BY 1"
        ).fetchall()
        owner = "sqlmig_attack_owner"
        assert owners == [("public.d1", "postgres"), ("s1.a1", owner), ("s1.b1", owner), ("s1.c1", owner)]
        writers = db.execute("SELECT DISTINCT executed_by FROM public.migration_history").fetchall()
        assert writers == [("postgres",)]
    finally:
        db.execute("DROP SCHEMA s1 CASCADE; DROP ROLE sqlmig_attack_owner")


@pytest.mark.timeout(60)
def test_every_migration_on_a_given_connection_starts_in_the_same_session_state(
    db_url: str, db: Conn, tmp_path: Path
) -> None:
    db.execute("CREATE SCHEMA s1")
    tree(
        tmp_path,
        {
            "migrate/20240101_000000_a.up.sql": "CREATE TABLE a1 (x int);\n",
            "migrate/20240102_000000_b.up.sql": "CREATE TABLE b1 (x int);\n",
        },
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET search_path TO s1, public")
        sqlmig.apply(conn, tmp_path)
    schemas = db.execute(
        "SELECT DISTINCT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname IN ('a1', 'b1')"
    ).fetchall()
    assert len(schemas) == 1, f"a1 and b1 were created in different schemas: {schemas}"


@pytest.mark.timeout(60)
def test_a_given_connection_keeps_its_own_session_state(db_url: str, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "migrate/20240101_000000_a.up.sql": "SET search_path TO public;\nRESET ROLE;\nCREATE TABLE a1 (i int);\n",
            "migrate/20240102_000000_b.up.sql": NOTX + "SET work_mem = '1MB';\nCREATE TABLE public.b1 (x int);\n",
        },
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app; CREATE ROLE sqlmig_attack_app")
        conn.execute("GRANT ALL ON SCHEMA app, public TO sqlmig_attack_app")
        try:
            conn.execute("SET search_path TO app, public; SET work_mem = '8MB'; SET ROLE sqlmig_attack_app")
            conn.execute("SET application_name = 'it''s 100% {x}'")  # quoted as a literal, never a placeholder
            conn.execute("CREATE TEMP TABLE work (x int)")
            sqlmig.apply(conn, tmp_path)
            kept = "SELECT current_setting('search_path'), current_setting('work_mem'), current_user"
            assert conn.execute(kept).fetchone() == ("app, public", "8MB", "sqlmig_attack_app")
            assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("it's 100% {x}",)
            # Temporary tables are not the caller's to keep: each migration runs as in a fresh session
            # (docs/deploying.md says so), and DISCARD TEMP ends the ones before it.
            assert conn.execute("SELECT to_regclass('pg_temp.work')").fetchone() == (None,)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            conn.execute("RESET ROLE; DROP SCHEMA app CASCADE")
            conn.execute("DROP OWNED BY sqlmig_attack_app; DROP ROLE sqlmig_attack_app")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("given", [False, True], ids=["own-connection", "given-connection"])
def test_no_transaction_file_left_in_its_own_block_is_not_reported_applied(
    db_url: str, db: Conn, tmp_path: Path, given: bool
) -> None:
    tree(tmp_path, {"migrate/20240101_000000_a.up.sql": NOTX + "SELECT 1;\nBEGIN;\nCREATE TABLE public.z (x int);\n"})
    with pytest.raises(sqlmig.MigrationError) as info:
        if given:
            with psycopg.connect(db_url, autocommit=True) as conn:
                sqlmig.apply(conn, tmp_path)
        else:
            sqlmig.apply(db_url, tmp_path)
    err = info.value
    assert (err.line, err.statement, err.rolled_back) == (3, "BEGIN", False)
    assert "COMMIT" in (err.hint or "") and "Statements 2 to 3 (lines 3 on)" in (err.outcome or "")
    assert scalar(db, "SELECT to_regclass('public.z') IS NOT NULL") is False
    # Statement 1 ran on its own and is recorded; once the file ends its block, up continues at the BEGIN.
    progress = "SELECT statements_done, resume_line FROM public.migration_history WHERE name = '20240101_000000_a'"
    assert db.execute(progress).fetchone() == (1, 3)
    tree(
        tmp_path,
        {"migrate/20240101_000000_a.up.sql": NOTX + "SELECT 1;\nBEGIN;\nCREATE TABLE public.z (x int);\nCOMMIT;\n"},
    )
    assert sqlmig.apply(db_url, tmp_path).names == ("20240101_000000_a",)
    assert scalar(db, "SELECT to_regclass('public.z') IS NOT NULL") is True
    assert db.execute(progress).fetchone() == (None, None)


# --- the configuration search: the caller's project -------------------------------------------------------------

CALLER = """
import sqlmig


def start(url):
    return sqlmig.apply(url)
"""


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
def test_two_projects_apply_at_once_from_threads_of_one_process(
    db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each caller is a module deep in a package of its own project; between it and the project's pyproject.toml
    is another pyproject.toml without [tool.sqlmig]; the configured directory is relative; the working directory
    is in no project. Each thread must find its own project's migrations, history table and variables."""
    starts = []
    for i in (1, 2):
        project = tmp_path / f"project{i}"
        tree(
            project,
            {
                "pyproject.toml": f'[tool.sqlmig]\ndirectory = "db/m{i}"\nhistory_table = "public.history{i}"\n'
                f'vars = {{ suffix = "{i}" }}\n',
                "src/pyproject.toml": "[project]\nname = 'inner'\n\n[tool.ruff]\nline-length = 100\n",
                f"src/app{i}/sub/start.py": CALLER,
                f"db/m{i}/migrate/20240101_00000{i}_first.up.sql": "CREATE TABLE public.p{{ suffix }} (x int);\n"
                "SELECT pg_sleep(0.2);\n",
                f"db/m{i}/migrate/20240102_00000{i}_second.up.sql": f"INSERT INTO public.p{i} VALUES ({i});\n",
            },
        )
        starts.append(_module(project / f"src/app{i}/sub/start.py", f"sqlmig_attack_caller{i}").start)
    elsewhere = tmp_path / "service-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    reports: dict[int, object] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            reports[i] = starts[i - 1](db_url)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    for i in (1, 2):
        names = [f"20240101_00000{i}_first", f"20240102_00000{i}_second"]
        assert [str(r[0]) for r in db.execute(f"SELECT name FROM public.history{i} ORDER BY id")] == names
        assert db.execute(f"SELECT x FROM public.p{i}").fetchall() == [(i,)]
    assert scalar(db, "SELECT to_regclass('public.migration_history')") is None


# --- seeds and up --to ------------------------------------------------------------------------------------------

SEEDED = {
    "migrate/20240101_000000_t.up.sql": "CREATE TABLE public.t (a int);\n",
    "migrate/20240101_000000_t.down.sql": "DROP TABLE public.t;\n",
    "seed/20240101_000001_s.up.sql": "INSERT INTO public.t VALUES (1);\n",
}


@pytest.mark.timeout(60)
def test_seeds_are_forgotten_even_when_the_rollback_is_interrupted(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(tmp_path, dict[str, str | bytes](SEEDED))
    sqlmig.apply(db_url, tmp_path)
    sqlmig.apply(db_url, tmp_path, track="seed")
    # Another session holds the seed row (a report reading it FOR UPDATE): the forgetting waits for it, and the
    # rollback's session is ended there, as a crash or a failover would end it.
    holder = psycopg.connect(db_url)
    holder.execute("SELECT 1 FROM public.migration_history WHERE type = 'seed' FOR UPDATE")
    failed: list[BaseException] = []

    def roll_back_all() -> None:
        try:
            sqlmig.rollback(db_url, tmp_path, all=True)
        except sqlmig.SqlmigError as exc:
            failed.append(exc)

    thread = threading.Thread(target=roll_back_all)
    thread.start()
    try:
        pid = wait_until(
            lambda: scalar(
                db,
                "SELECT max(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND position('seed' in query) > 0",
            ),
            timeout=20,
            what="the rollback to wait on the seed row",
        )
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        thread.join(30)
    finally:
        holder.close()
    assert len(failed) == 1  # the interrupted rollback reported its lost connection
    sqlmig.apply(db_url, tmp_path)
    sqlmig.apply(db_url, tmp_path, track="seed")
    assert db.execute("SELECT a FROM public.t").fetchall() == [(1,)]


@pytest.mark.timeout(60)
def test_up_to_in_random_steps_applies_exactly_the_prefix(db_url: str, db: Conn, tmp_path: Path) -> None:
    rng = random.Random(20240301)
    versions = sorted(f"2024{m:02d}01_000000" for m in rng.sample(range(1, 13), 8))
    files = {f"migrate/{v}_m{i}.up.sql": f"CREATE TABLE public.m{i} (x int);\n" for i, v in enumerate(versions)}
    files |= {f"seed/2025{m:02d}01_000000_s{m}.up.sql": f"INSERT INTO public.m0 VALUES ({m});\n" for m in (1, 2, 3)}
    tree(tmp_path, dict[str, str | bytes](files))
    migrator = Migrator.from_config(db_url, tmp_path)
    reached = ""
    for to in [*rng.choices(versions, k=6), versions[-1]]:
        if reached != versions[-1]:
            with pytest.raises(sqlmig.PendingMigrationsError):  # seeds wait for every migration, not for --to
                migrator.up("seed")
        applied = migrator.up(to=to).names
        assert list(applied) == [f"{v}_m{i}" for i, v in enumerate(versions) if reached < v <= to]
        reached = max(reached, to)
        assert history(db) == [f"{v}_m{i}" for i, v in enumerate(versions) if v <= reached]
    assert migrator.up("seed", to="20250201_000000").names == ("20250101_000000_s1", "20250201_000000_s2")
    assert migrator.up("seed").names == ("20250301_000000_s3",)


@pytest.mark.timeout(60)
def test_cli_up_to(db_url: str, db: Conn, tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "migrate/20240101_000000_a.up.sql": "CREATE TABLE public.a (x int);\n",
            "migrate/20240102_000000_b.up.sql": "CREATE TABLE public.b (x int);\n",
            "migrate/20240103_000000_c.up.sql": "CREATE TABLE public.c (x int);\n",
            "seed/20240104_000000_s1.up.sql": "INSERT INTO public.a VALUES (1);\n",
            "seed/20240105_000000_s2.up.sql": "INSERT INTO public.a VALUES (2);\n",
        },
    )

    def run(*args: str) -> tuple[int, str]:
        done = CliRunner().invoke(main, [*args, "--database-url", db_url, "--dir", str(tmp_path)])
        return done.exit_code, done.output

    code, out = run("migrate", "up", "--to", "20240102_000000", "--json")
    assert code == 0
    assert [r["name"] for r in json.loads(out.splitlines()[-1])["results"]] == [
        "20240101_000000_a",
        "20240102_000000_b",
    ]
    assert run("migrate", "up", "--to", "20240101_000000") == (0, "Nothing to do: migrate is up to date.\n")
    code, out = run("migrate", "up", "--to", "2024")
    assert (code, "no migrate migration file has version 2024" in out) == (4, True)
    assert run("seed", "up", "--to", "20240104_000000")[0] == 4  # a migration is still pending
    code, out = run("migrate", "up", "--to", "20240103_000000", "--dry-run")
    assert (
        code == 0
        and "would apply 20240103_000000_c" in out
        and history(db) == ["20240101_000000_a", "20240102_000000_b"]
    )
    assert run("migrate", "up", "--to", "20240103_000000", "--single-transaction")[0] == 0
    assert run("seed", "up", "--to", "20240104_000000")[0] == 0
    assert run("seed", "up", "--to", "20240103_000000")[0] == 4  # a migrate version is not a seed's
    assert (history(db), history(db, "seed")) == (
        ["20240101_000000_a", "20240102_000000_b", "20240103_000000_c"],
        ["20240104_000000_s1"],
    )


# --- several processes at once, one killed -------------------------------------------------------------------------

SLEEP = "SELECT pg_sleep(coalesce(current_setting('faults.sleep', true), '0')::float8);\n"


def mixed_files(kill_in: str) -> dict[str, str]:
    """Transactional, COPY, no-transaction (CREATE INDEX CONCURRENTLY and COPY) and templated files; the one
    ``kill_in`` names sleeps in the middle in the run that has ``faults.sleep`` set."""
    rows = "".join(f"{i}\tlabel {i}\n" for i in range(1, 51))
    more = "".join(f"{i}\tlabel {i}\n" for i in range(51, 101))
    return {
        "migrate/20240301_000001_base.up.sql": "CREATE SCHEMA mix;\n"
        "CREATE TABLE mix.items (id int PRIMARY KEY, label text);\nCREATE TABLE mix.log (what text NOT NULL);\n",
        "migrate/20240301_000002_tx.up.sql": "INSERT INTO mix.log VALUES ('tx');\n"
        + (SLEEP if kill_in == "transactional" else "")
        + "CREATE TABLE mix.after_tx (x int);\n",
        "migrate/20240301_000003_copy.up.sql": f"COPY mix.items (id, label) FROM stdin;\n{rows}\\.\n"
        "INSERT INTO mix.log VALUES ('copy');\n",
        "migrate/20240301_000004_concurrently.up.sql": NOTX
        + "CREATE INDEX CONCURRENTLY items_label ON mix.items (label);\n"
        "INSERT INTO mix.log VALUES ('notx');\n"
        + (SLEEP if kill_in == "no-transaction" else "")
        + f"COPY mix.items (id, label) FROM stdin;\n{more}\\.\n"
        "INSERT INTO mix.log VALUES ('notx-end');\n",
        "migrate/20240301_000005_templated.up.sql": "{% for i in range(3) %}CREATE TABLE mix.tpl_{{ i }} (x int);\n"
        "{% endfor %}INSERT INTO mix.log VALUES ('tpl');\n",
    }


def _applied_in_log(runner: Runner) -> list[str]:
    return [line.split("applied ", 1)[1].split(" ", 1)[0] for line in runner.log().splitlines() if " applied " in line]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kill_in", ["transactional", "no-transaction"])
def test_five_instances_finish_what_a_killed_one_started(
    db_url: str, db: Conn, tmp_path: Path, launcher: Launcher, kill_in: str
) -> None:
    files = mixed_files(kill_in)
    names = sorted(Path(f).name.removesuffix(".up.sql") for f in files)
    directory = tree(tmp_path / "migrations", dict[str, str | bytes](files))
    killed = launcher.start("killed", worker(db_url, directory), env=SLOW_ENV)
    pid = wait_until(lambda: sleeping_backend(db), timeout=30, what="the slow statement", runners=[killed])
    others = [launcher.start(f"app-{i}", worker(db_url, directory)) for i in range(5)]
    wait_until(lambda: all(WAITING_LOG in r.log() for r in others), timeout=30, what="five waiters", runners=others)
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish(timeout=10) == -signal.SIGKILL
    assert [r.finish(timeout=60) for r in others] == [0] * 5, "\n".join(r.describe() for r in others)
    wait_until(
        lambda: scalar(db, f"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = {pid}"), timeout=10, what="gone"
    )

    by_others = [n for r in others for n in r.outcome()["applied"]]
    assert sorted(_applied_in_log(killed) + by_others) == names  # each applied by exactly one process
    assert history(db) == names
    assert progress_rows(db) == [(n, None) for n in names]
    logged = db.execute("SELECT what, count(*) FROM mix.log GROUP BY what ORDER BY what").fetchall()
    assert logged == [("copy", 1), ("notx", 1), ("notx-end", 1), ("tpl", 1), ("tx", 1)]
    assert db.execute("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM mix.items").fetchone() == (
        100,
        100,
        1,
        100,
    )
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'mix.items_label'::regclass"
    assert scalar(db, valid) is True
    assert scalar(db, "SELECT count(*) FROM pg_class WHERE relname LIKE 'tpl\\_%' ESCAPE '\\'") == 3
    assert_no_advisory_lock(db)
    assert sqlmig.apply(db_url, directory).names == ()
