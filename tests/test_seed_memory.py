"""A 100 MB seed is streamed, as pg_dump-style COPY data or as multi-row INSERTs: the process applying it never
holds the file in memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

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


def write_seed(path: Path, style: str) -> int:
    """A seed of about :data:`SIZE` bytes for ``public.big``: COPY data, or INSERTs of 1,000 rows each; returns
    its row count."""
    row = "{}\t" + "x" * 200 + "\t\\N\n" if style == "copy" else "({}, '" + "x" * 200 + "', NULL)"
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        if style == "copy":
            fh.write("COPY public.big (id, payload, note) FROM stdin;\n")
        written = 0
        while written < SIZE:
            if style == "copy":
                chunk = "".join(row.format(rows + i) for i in range(10_000))
            else:
                values = (",\n".join(row.format(rows + i + j) for j in range(1_000)) for i in range(0, 10_000, 1_000))
                chunk = "".join(f"INSERT INTO public.big (id, payload, note) VALUES\n{v};\n" for v in values)
            fh.write(chunk)
            written += len(chunk)
            rows += 10_000
        if style == "copy":
            fh.write("\\.\n")
    return rows


@pytest.mark.timeout(300)
@pytest.mark.newest  # sqlmig's own streaming and memory, the same on every major
@pytest.mark.parametrize("style", ["copy", "insert"])
def test_hundred_megabyte_seed_streams(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path, style: str
) -> None:
    directory = tree(
        tmp_path, {"migrate/20240101_000000_big.up.sql": "CREATE TABLE public.big (id int, payload text, note text);\n"}
    )
    (directory / "seed").mkdir()
    rows = write_seed(directory / "seed" / "20240101_000001_big.up.sql", style)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, db_url, str(directory)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    applied, peak_mb = (int(x) for x in out.stdout.split())
    assert applied == 1
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb} MB while applying a {SIZE >> 20} MB seed"
    assert db.execute("SELECT count(*) FROM public.big").fetchone() == (rows,)
