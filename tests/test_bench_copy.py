"""The COPY seed's Python floor (``bench/copy_floor.py``): it loads exactly the rows psql loads from the same
file, records its history row, and refuses a file whose data does not end with ``\\.``. No timing here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.newest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "copy_floor.py"
Conn = psycopg.Connection[tuple[object, ...]]


def _prepare(db: Conn) -> None:
    db.execute("CREATE TABLE public.seed (id bigint, name text)")
    db.execute("CREATE TABLE public.floor_history (id serial PRIMARY KEY, name text UNIQUE)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("rows", [1, 3, 50_000])
def test_the_python_floor_loads_every_row_and_records_it(db_url: str, db: Conn, tmp_path: Path, rows: int) -> None:
    _prepare(db)
    seed = tmp_path / "20240101_000001_seed.up.sql"
    data = "".join(f"{i}\tname-{i}\n" for i in range(rows))  # 50,000 rows: the \\. line falls after a 1 MiB block
    seed.write_text(f"COPY public.seed (id, name) FROM stdin;\n{data}\\.\n")
    subprocess.run([sys.executable, str(SCRIPT), db_url, str(seed), seed.stem], check=True, timeout=60)
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM public.seed").fetchone() == (rows, rows)
    assert db.execute("SELECT name FROM public.floor_history").fetchall() == [(seed.stem,)]


@pytest.mark.timeout(60)
def test_the_python_floor_refuses_data_without_its_end_line(db_url: str, db: Conn, tmp_path: Path) -> None:
    _prepare(db)
    seed = tmp_path / "20240101_000001_seed.up.sql"
    seed.write_text("COPY public.seed (id, name) FROM stdin;\n1\ta\n2\tb\n")
    result = subprocess.run([sys.executable, str(SCRIPT), db_url, str(seed), "x"], capture_output=True, timeout=60)
    assert result.returncode != 0 and b"does not end with" in result.stderr
    assert db.execute("SELECT count(*) FROM public.floor_history").fetchone() == (0,)
