"""Many application instances starting at once: every migration runs exactly once, no instance fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg

from .helpers import tree

# Each process waits for the same moment, then calls apply() as an application would at start-up.
WORKER = """
import sys, time
import sqlmig
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
report = sqlmig.apply(sys.argv[1], sys.argv[2])
print(len(report))
"""


def test_sixteen_processes_apply_at_once(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {}
    for i in range(20):
        files[f"migrate/20240101_{i:06d}_t{i}.up.sql"] = (
            f"CREATE TABLE public.t{i} (id int);\nINSERT INTO public.t{i} VALUES ({i});\n"
        )
    directory = tree(tmp_path / "migrations", files)
    start = time.time() + 3.0  # enough for 16 interpreters to import sqlmig on 2 cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, str(directory), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    failures = [(p.returncode, err) for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert failures == []
    applied_counts = sorted(int(out.strip()) for out, _ in outputs)
    assert sum(applied_counts) == 20  # every migration applied by exactly one process
    rows = db.execute("SELECT name, count(*) FROM public.migration_history GROUP BY name").fetchall()
    assert len(rows) == 20 and all(count == 1 for _, count in rows)
    for i in range(20):
        assert db.execute(f"SELECT count(*) FROM public.t{i}").fetchone() == (1,)
    # No advisory lock is left behind.
    assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
