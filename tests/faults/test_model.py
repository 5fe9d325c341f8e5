"""The start-up promise under attack: a randomized model test (hypothesis' rule-based state machine).

Each step is a deploy: the release gains new migrations of every kind (transactional, templated, no-transaction
with ``CREATE INDEX CONCURRENTLY``, streamed (> 4 MiB), seeds), several instances start together (some of them
still on the previous release), and a fault may strike: kill -9 of an instance, ``pg_terminate_backend`` of the
sqlmig sessions, or an immediate server restart. After every step the invariants must hold:

- every history row's effects exist, and no transactional migration's effects exist without its row;
- nothing ran twice (every transactional migration logs itself once in ``public.effects``);
- recorded migrations are a prefix of the files (a partial no-transaction file may end it);
- no advisory lock is left once the instances are gone;
- ``sqlmig.status()`` agrees with the history and the catalog;
- without a fault, every instance exits 0; with one, an instance either exits 0, is the one killed, or fails with
  a sqlmig error (never a traceback). An instance running an earlier release of sqlmig itself counts as a fault:
  its own bugs (it waited for the lock holding a snapshot) may fail an instance, but never break an invariant.

At the end a last instance runs with no fault and everything must be applied, exactly once. In CI the test is
bounded (``SQLMIG_MODEL_EXAMPLES`` x ``SQLMIG_MODEL_STEPS``, default 2 x 3 per major, within
``SQLMIG_MODEL_TIMEOUT`` seconds); ``make chaos`` runs it long.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from psycopg.conninfo import conninfo_to_dict

import sqlmig

from ..pgcluster import PgServer, temporary_database
from .checks import advisory_locks, sqlmig_backends
from .processes import Launcher, Runner, release_together, restart_immediately, wait_until

Conn = psycopg.Connection[tuple[object, ...]]
MODEL_WORKER = Path(__file__).with_name("model_worker.py")
EXAMPLES = int(os.environ.get("SQLMIG_MODEL_EXAMPLES", "2"))
STEPS = int(os.environ.get("SQLMIG_MODEL_STEPS", "3"))
TIMEOUT = int(os.environ.get("SQLMIG_MODEL_TIMEOUT", "900"))
KINDS = ("tx", "template", "notx", "stream", "seed")
FAULTS = ("none", "none", "kill", "terminate", "restart", "old-sqlmig")
# An earlier release of sqlmig itself, run by one instance of a round as during a rolling upgrade of the library:
# the last release before waiters stopped holding a snapshot. Taken from the repository's history; where that is
# not available (a shallow clone), the fault is not drawn.
OLD_SQLMIG = "fb94a385680c7d52a4fcbfc7db3dd544c7fc89af"
STREAM_ROWS = 4200  # about 4.3 MB of INSERTs: above the 4 MiB from which a file is streamed
PAD = "x" * 1000
UNEXPECTED = 70  # model_worker's exit status for an exception that is not a SqlmigError


@dataclass(frozen=True)
class Migration:
    kind: str
    name: str

    @property
    def track(self) -> str:
        return "seed" if self.kind == "seed" else "migrate"

    @property
    def table(self) -> str:
        return self.name.split("_", 2)[2]

    def text(self) -> str:
        t = self.table
        log = f"INSERT INTO public.effects (name) VALUES ('{self.name}');\n"
        if self.kind == "tx":
            return f"CREATE TABLE public.{t} (id int);\nSELECT pg_sleep(0.1);\n{log}"
        if self.kind == "template":
            return f"CREATE TABLE public.{{{{ '{t}' }}}} (id int);\n{log}"
        if self.kind == "notx":
            return (
                "-- sqlmig: no-transaction\n"
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_a ON public.base (v);\n"
                "SELECT pg_sleep(0.1);\n"
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_b ON public.base (v);\n"
            )
        if self.kind == "stream":
            rows = "".join(f"INSERT INTO public.{t} VALUES ({i}, '{PAD}');\n" for i in range(STREAM_ROWS))
            return f"CREATE TABLE public.{t} (id int, pad text);\n{rows}{log}"
        return log  # a seed


class Deploys(RuleBasedStateMachine):
    """The model: releases (each a folder holding every migration so far) deployed onto one database."""

    def __init__(self, server: PgServer, base: Path, old_code: Path | None) -> None:
        super().__init__()
        self.server = server
        self.old_code = old_code
        self.base = Path(tempfile_dir(base))
        self.stack = ExitStack()
        self.url = self.stack.enter_context(temporary_database(server))
        self.launcher = Launcher(self.base / "runners")
        self.stack.callback(self.launcher.stop_all)
        self.migrations: list[Migration] = []
        self.releases: list[Path] = []
        self.round = 0
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE public.effects (name text NOT NULL, at timestamptz DEFAULT clock_timestamp())")
            conn.execute("CREATE TABLE public.base (v int)")
            conn.execute("INSERT INTO public.base SELECT generate_series(1, 1000)")

    def release(self, new: list[str]) -> Path:
        """Write the next release: every migration so far and ``new`` ones of those kinds."""
        for kind in new:
            n = len(self.migrations)
            self.migrations.append(Migration(kind, f"20240101_{n:06d}_{kind}{n}"))
        folder = self.base / f"release{len(self.releases)}"
        folder.mkdir()
        for m in self.migrations:
            path = folder / m.track / f"{m.name}.up.sql"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(m.text())
        self.releases.append(folder)
        return folder

    @rule(
        new=st.lists(st.sampled_from(KINDS), min_size=0, max_size=3),
        instances=st.integers(min_value=2, max_value=4),
        old=st.booleans(),
        fault=st.sampled_from(FAULTS),
        delay=st.floats(min_value=0.0, max_value=1.5),
        seed=st.integers(min_value=0, max_value=2**16),
    )
    def deploy(self, new: list[str], instances: int, old: bool, fault: str, delay: float, seed: int) -> None:
        if sum(m.kind == "stream" for m in self.migrations) >= 1:
            new = [k for k in new if k != "stream"]  # one streamed file is enough to keep a round short
        previous = self.releases[-1] if self.releases else None
        current = self.release(new)
        folders = [current] * instances
        if old and previous is not None:
            folders[-1] = previous  # an instance of the previous release, still rolling out
        if fault == "old-sqlmig" and self.old_code is None:
            fault = "none"
        runners = self.start(folders, old_code=self.old_code if fault == "old-sqlmig" else None)
        victim = self.inject(fault, delay, runners, random.Random(seed))
        self.check_outcomes(runners, fault, victim)
        self.verify_state(complete=False)

    @precondition(lambda self: bool(self.releases))
    @rule()
    def restart_quietly(self) -> None:
        """A restart while nothing runs: the next deploy must find the history as it was."""
        restart_immediately(self.server)
        self.verify_state(complete=False)

    def teardown(self) -> None:
        try:
            if self.releases:
                runners = self.start([self.releases[-1]])
                self.check_outcomes(runners, "none", None)
                self.verify_state(complete=True)
        finally:
            self.stack.close()

    def start(self, folders: list[Path], old_code: Path | None = None) -> list[Runner]:
        """Start an instance per folder (the first on ``old_code``, when given), all released at once."""
        self.round += 1
        barrier = self.base / f"barrier{self.round}"
        barrier.mkdir()
        runners = [
            self.launcher.start(
                f"r{self.round}-{i}",
                [sys.executable, str(MODEL_WORKER), self.url, str(folder), str(barrier)],
                env={
                    "PGOPTIONS": "-c client_connection_check_interval=100",
                    **({"PYTHONPATH": str(old_code)} if old_code is not None and i == 0 else {}),
                },
            )
            for i, folder in enumerate(folders)
        ]
        release_together(barrier, runners)
        return runners

    def inject(self, fault: str, delay: float, runners: list[Runner], rnd: random.Random) -> Runner | None:
        if fault in ("none", "old-sqlmig"):
            return None
        time.sleep(delay)
        if fault == "kill":
            victim = rnd.choice(runners)
            if victim.proc.poll() is None:
                victim.proc.send_signal(signal.SIGKILL)
            return victim
        if fault == "terminate":
            with psycopg.connect(self.server.url(), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'sqlmig' AND datname = %s",
                    (conninfo_to_dict(self.url)["dbname"],),
                )
            return None
        restart_immediately(self.server)
        return None

    def check_outcomes(self, runners: list[Runner], fault: str, victim: Runner | None) -> None:
        codes = [r.finish(timeout=180) for r in runners]
        for runner, code in zip(runners, codes, strict=True):
            if code == 0:
                continue
            if runner is victim and code == -signal.SIGKILL:
                continue
            assert fault not in ("none", "kill"), f"an instance failed without a fault on it\n{runner.describe()}"
            assert code != UNEXPECTED, f"an instance failed with a traceback\n{runner.describe()}"
            error = runner.outcome()["error"]
            assert error is not None and error["sqlmig"], runner.describe()

    def verify_state(self, *, complete: bool) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            wait_until(lambda: not sqlmig_backends(conn), timeout=20, what="every sqlmig backend to end")
            assert advisory_locks(conn) == 0, "an advisory lock was left behind"
            rows = conn.execute(
                "SELECT name, type, statements_done FROM public.migration_history"
                if conn.execute("SELECT to_regclass('public.migration_history')").fetchone() != (None,)
                else "SELECT NULL, NULL, NULL WHERE false"
            ).fetchall()
            recorded = {str(name): done for name, _, done in rows}
            effects = dict(conn.execute("SELECT name, count(*) FROM public.effects GROUP BY name").fetchall())
            valid = {
                str(r[0])
                for r in conn.execute(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisvalid"
                )
            }
            tables = {str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            for m in self.migrations:
                done = m.name in recorded and recorded[m.name] is None
                if complete:
                    assert done, f"{m.name} is not applied after a run without faults"
                if m.kind == "notx":
                    if done:
                        assert {f"{m.table}_a", f"{m.table}_b"} <= valid, f"{m.name} recorded, indexes missing"
                    continue
                assert effects.get(m.name, 0) == (1 if done else 0), (
                    f"{m.name}: recorded={m.name in recorded}, ran {effects.get(m.name, 0)} time(s)"
                )
                if m.kind in ("tx", "template", "stream"):
                    assert (m.table in tables) == done, f"{m.name}: recorded={done}, table exists={m.table in tables}"
                if m.kind == "stream" and done:
                    count = conn.execute(f"SELECT count(*) FROM public.{m.table}").fetchone()
                    assert count == (STREAM_ROWS,), f"{m.name}: {count} rows"
            order = [m.name for m in self.migrations if m.track == "migrate"]
            applied = [n for n in order if n in recorded]
            assert applied == order[: len(applied)], f"history {applied} is not a prefix of {order}"
            assert all(recorded[n] is None for n in applied[:-1]), "only the last migration may be partial"
        if self.releases:
            status = sqlmig.status(self.url, self.releases[-1])
            for entry in status.entries:
                expected = (
                    "pending"
                    if entry.name not in recorded
                    else "partial"
                    if recorded[entry.name] is not None
                    else "applied"
                )
                assert entry.state == expected, f"status says {entry.state} for {entry.name}, history: {expected}"


def tempfile_dir(base: Path) -> str:
    """A new folder under ``base`` for one example of the state machine."""
    base.mkdir(parents=True, exist_ok=True)
    index = len(list(base.iterdir()))
    folder = base / f"example{index}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return str(folder)


@pytest.fixture(scope="module")
def old_sqlmig(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A folder holding the ``sqlmig`` package as it was at :data:`OLD_SQLMIG`, or None when git or that commit
    is not at hand."""
    repo = Path(__file__).parents[2]
    into = tmp_path_factory.mktemp("old-sqlmig")
    try:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", OLD_SQLMIG, "sqlmig"], capture_output=True, check=True, timeout=60
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return into


@pytest.mark.core  # the promise, on every major (docs/testing.md)
@pytest.mark.timeout(TIMEOUT)
def test_deploys_with_faults_keep_the_promise(own_server: PgServer, tmp_path: Path, old_sqlmig: Path | None) -> None:
    run_state_machine_as_test(
        lambda: Deploys(own_server, tmp_path, old_sqlmig),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            # Each step starts processes and servers: shrinking a failure would take longer than finding it; the
            # steps hypothesis prints are the reproduction.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
