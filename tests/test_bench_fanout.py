"""The fan-out benchmark's parts: its files render as sqlmig renders them, its runners do what they claim and check
what they leave, the launcher counts the CPU of a command's children, and the report marks each target. Nothing
here asserts on time: the benchmark is where speed is measured."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench import fanout_files, fanout_report, report, workloads
from bench.fanout import FANOUT, LOOP, XARGS, Fanout, loop_schemas
from bench.run import plan, select
from bench.runners import BenchError, Runner, Sample
from bench.suites import CONNECT, Series, Suite, Workload
from sqlmig.render import TemplateContext, render_text

Conn = psycopg.Connection[tuple[object, ...]]
PER_TARGET = 4
TIMES = "\N{MULTIPLICATION SIGN}"
BENCH = Path(__file__).parent.parent / "bench"


class OneDatabase:
    """Stands in for the benchmark's server: every database name is the test's database."""

    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, dbname: str = "postgres") -> str:
        return self._url


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Generated trees go to the test's folder, not bench/.cache/."""
    monkeypatch.setattr(workloads, "CACHE", tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture
def fan(db_url: str, tmp_path: Path, cache: Path) -> Iterator[Fanout]:
    work = tmp_path / "work"
    work.mkdir()
    runner = Runner(OneDatabase(db_url), work)  # type: ignore[arg-type]
    yield Fanout(Suite(runner, lambda line: None))
    runner.close()


def workload(kind: str, targets: int) -> Workload:
    return Workload(f"{kind}-{targets}", kind, targets * PER_TARGET, 1, targets=targets)


def tables(db: Conn) -> list[tuple[object, ...]]:
    """Every column of the tenant schemas, with its table, and every index: what the migrations made."""
    columns = db.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema LIKE 'tenant\\_%' ORDER BY 1, 2, 3"
    ).fetchall()
    indexes = db.execute(
        "SELECT schemaname, indexname FROM pg_indexes WHERE schemaname LIKE 'tenant\\_%' ORDER BY 1, 2"
    )
    return columns + indexes.fetchall()


# --- files ------------------------------------------------------------------------------------------------------


def test_the_floor_runs_what_sqlmig_renders() -> None:
    for i in range(20):
        text = fanout_files.template(i)
        assert "{{" in text
        expected = render_text(Path("m.sql"), text, TemplateContext(schema="tenant_00042"))
        assert fanout_files.render(text, "tenant_00042") == expected


def test_floor_scripts_one_transaction_per_file_with_its_row(cache: Path, tmp_path: Path) -> None:
    folder = fanout_files.floor_scripts(2, 3)
    listing = fanout_files.floor_list(folder, tmp_path / "list.txt").read_text().splitlines()
    assert listing == [str((folder / f"tenant_0000{i}.sql").resolve()) for i in (1, 2)]
    script = (folder / "tenant_00002.sql").read_text()
    assert script.splitlines()[:4] == [
        "BEGIN;",
        'CREATE SCHEMA "tenant_00002";',
        "INSERT INTO public.floor_history_targets (target, name) VALUES ('tenant_00002', '20240101_000000_m0');",
        "COMMIT;",
    ]
    assert script.count("BEGIN;") == script.count("COMMIT;") == script.count("INSERT INTO") == 3


def test_schemas_query_returns_the_schemas(db: Conn) -> None:
    assert [r[0] for r in db.execute(fanout_files.schemas_query(12))] == fanout_files.schemas(12)


# --- the runners, on a real server ------------------------------------------------------------------------------


def test_floor_fanout_and_loop_make_the_same_schemas(fan: Fanout, db_url: str, db: Conn, tmp_path: Path) -> None:
    w = workload("fanout", 2)
    migrations = fanout_files.tree(PER_TARGET)
    scripts = fanout_files.floor_list(fanout_files.floor_scripts(2, PER_TARGET), tmp_path / "list.txt")
    fan.create_floor_history(db_url)
    floor = fan.xargs_floor(db_url, scripts, w)
    made = tables(db)
    assert len({row[0] for row in made}) == 2 and floor.cpu_seconds is not None and floor.cpu_seconds > 0

    db.execute("DROP SCHEMA tenant_00001, tenant_00002 CASCADE")
    sample = fan.cli(db_url, migrations, w, applied=True)
    assert tables(db) == made and sample.rss_kb
    with pytest.raises(BenchError, match="expected"):  # nothing is left to apply: the summary says so
        fan.cli(db_url, migrations, w, applied=True)

    db.execute("DROP SCHEMA tenant_00001, tenant_00002 CASCADE")
    fan.loop(db_url, migrations, fanout_files.schemas(2))
    assert tables(db) == made
    history = "SELECT count(*) FROM public.history_tenant_00002"
    assert db.execute(history).fetchone() == (PER_TARGET,)


def test_up_to_date_targets_are_current_for_sqlmig(fan: Fanout, db_url: str, db: Conn) -> None:
    w = workload("fanout-noop", 5)
    migrations = fanout_files.tree(PER_TARGET)
    fan.up_to_date(db_url, migrations, w)
    assert db.execute("SELECT count(DISTINCT target) FROM public.migration_history_targets").fetchone() == (5,)
    fan.cli(db_url, migrations, w, applied=False)  # raises unless its summary counts 5 current targets
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant%'").fetchone() == (1,)


def test_a_history_with_a_row_missing_stops_the_benchmark(fan: Fanout, db_url: str, db: Conn) -> None:
    w = workload("fanout-noop", 3)
    migrations = fanout_files.tree(PER_TARGET)
    fan.up_to_date(db_url, migrations, w)
    db.execute(
        "DELETE FROM public.migration_history_targets WHERE id = (SELECT max(id) FROM public.migration_history_targets)"
    )
    with pytest.raises(BenchError, match="distinct rows"):
        fan.check(db_url, w.n, 3, "test")


# --- launcher, plan -----------------------------------------------------------------------------------------------


def test_launcher_counts_the_cpu_of_the_children_it_waits_for(tmp_path: Path) -> None:
    burn = "import time\nwhile time.process_time() < 0.3: pass"
    result = tmp_path / "result.json"
    command = ["/bin/sh", "-c", f'"{sys.executable}" -c "$0"; true', burn]
    subprocess.run([sys.executable, "-I", "-S", str(BENCH / "launch.py"), str(result), *command], check=True)
    data = json.loads(result.read_text())
    assert data["exit"] == 0 and data["cpu_seconds"] >= 0.3


def test_fanout_workloads_in_both_modes_and_only_fanout() -> None:
    full = {w.name: w for w in plan(quick=False)}
    assert (full["fanout-1000x20"].n, full["fanout-1000x20"].targets, full["fanout-1000x20"].reps) == (20000, 1000, 2)
    assert full["fanout-noop-10000"].targets == 10000
    chosen = select(plan(quick=False), "fanout", 3)
    assert [(w.name, w.reps, w.targets) for w in chosen] == [
        ("fanout-1000x20", 3, 1000),
        ("fanout-noop-1000", 3, 1000),
        ("fanout-noop-10000", 3, 10000),
    ]
    quick = {w.name: w for w in plan(quick=True)}
    assert "fanout-noop-10000" not in quick and quick["fanout-noop-1000"].targets == 1000
    assert [loop_schemas(w) for w in (full["fanout-1000x20"], quick["fanout-50x20"], workload("fanout", 3))] == [
        50,
        10,
        1,
    ]


# --- report -----------------------------------------------------------------------------------------------------


def series(w: Workload, runner: str, floor: str | None, seconds: float, rss_mb: int, cpu: float) -> Series:
    return Series(w, runner, floor, [Sample(seconds, rss_mb * 1024, cpu)], note="10 of 1000 schemas run once")


def results(fanout_s: float, loop_s: float, cpu: float, noop_s: float, rss: tuple[int, int]) -> report.Results:
    w = Workload("fanout-1000x20", "fanout", 20000, 1, targets=1000)
    small = Workload("fanout-noop-1000", "fanout-noop", 20000, 1, targets=1000)
    big = Workload("fanout-noop-10000", "fanout-noop", 200000, 1, targets=10000)
    return report.Results(
        [
            series(w, FANOUT, XARGS, fanout_s, 50, cpu),
            series(w, XARGS, None, 10.0, 10, 4.0),
            series(w, LOOP, XARGS, loop_s, 40, 100.0),
            series(small, FANOUT, CONNECT, noop_s, rss[0], 0.3),
            series(small, CONNECT, None, 0.2, 30, 0.2),
            series(big, FANOUT, CONNECT, 1.0, rss[1], 0.9),
            series(big, CONNECT, None, 0.2, 30, 0.2),
        ]
    )


def marks(found: list[report.Target]) -> list[bool | None]:
    return [t.met for t in found]


def test_every_fanout_target_met() -> None:
    found = fanout_report.targets(results(10.9, 60.0, 6.0, 0.3, (60, 65)))
    assert marks(found) == [True, True, True, True, True]
    assert found[1].measured.startswith(f"5.5{TIMES} (loop 60.0 s, 10 of 1000 schemas run once; fan-out 10.9 s)")
    assert found[2].measured == f"0.300 vs 0.200 ms: 1.50{TIMES}"
    assert found[4].measured == "60 → 65 MB (+8%)"


def test_every_fanout_target_missed() -> None:
    found = fanout_report.targets(results(11.1, 55.0, 6.1, 0.31, (60, 67)))
    assert marks(found) == [False, False, False, False, False]


def test_cpu_table_and_targets_without_fanout() -> None:
    assert fanout_report.targets(report.Results([])) == []
    assert fanout_report.cpu_table(report.Results([])) == ""
    table = fanout_report.cpu_table(results(10.0, 60.0, 6.0, 0.3, (60, 60)))
    assert f"| fanout-1000x20 | {FANOUT} | 6.000 | 0.3000 | 1.50{TIMES} {XARGS} |" in table
