"""The in-process floor of a no-op run: what any runner must do to find that nothing is pending.

Usage: ``python bench/noop_floor.py URL DIR``. With psycopg and hashlib loaded, it times: connect, read and
SHA-256 every file under ``DIR`` (whole files, binary), one ``SELECT 1`` round trip, close. Prints
``{"seconds": …, "files": …}``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import psycopg


def main() -> None:
    """Time the floor against ``URL`` over the files of ``DIR`` and print the JSON result."""
    if len(sys.argv) != 3:
        sys.exit("usage: noop_floor.py URL DIR")
    url, directory = sys.argv[1], Path(sys.argv[2])
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        files = 0
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                hashlib.sha256(path.read_bytes()).hexdigest()
                files += 1
        conn.execute("SELECT 1").fetchone()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "files": files}))


if __name__ == "__main__":
    main()
