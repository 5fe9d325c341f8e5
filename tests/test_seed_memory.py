"""A 100 MB pg_dump-style seed is streamed: the process applying it never holds the file in memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from .helpers import tree

SIZE = 100 * 1024 * 1024
# Applying this seed peaks at about 48 MB RSS here; a process that read the file whole would pass 150 MB.
# The bound sits below the file size and well above what streaming needs.
MAX_RSS_MB = 90

# The peak is VmHWM, the high-water mark of this process image only. Linux carries ru_maxrss over exec, and a
# child started by vfork (as subprocess does) would report the pytest process's own peak.
WORKER = """
import resource, sys
import sqlmig
sqlmig.apply(sys.argv[1], sys.argv[2])
report = sqlmig.apply(sys.argv[1], sys.argv[2], track="seed")
try:
    with open("/proc/self/status") as fh:
        peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) // 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(len(report), peak)
"""


def write_seed(path: Path) -> int:
    line = "{}\t" + "x" * 200 + "\t\\N\n"
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("COPY public.big (id, payload, note) FROM stdin;\n")
        written = 0
        while written < SIZE:
            chunk = "".join(line.format(rows + i) for i in range(10_000))
            fh.write(chunk)
            written += len(chunk)
            rows += 10_000
        fh.write("\\.\n")
    return rows


def test_hundred_megabyte_copy_seed_streams(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    directory = tree(
        tmp_path, {"migrate/20240101_000000_big.up.sql": "CREATE TABLE public.big (id int, payload text, note text);\n"}
    )
    (directory / "seed").mkdir()
    rows = write_seed(directory / "seed" / "20240101_000001_big.up.sql")
    out = subprocess.run(
        [sys.executable, "-c", WORKER, db_url, str(directory)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    applied, peak_mb = (int(x) for x in out.stdout.split())
    assert applied == 1
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb} MB while applying a {SIZE >> 20} MB seed"
    assert db.execute("SELECT count(*) FROM public.big").fetchone() == (rows,)
