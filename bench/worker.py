"""One application instance of the concurrent workload.

Usage: ``python bench/worker.py URL DIR``. Loads psycopg and sqlmig, prints ``ready``, then blocks until its
standard input is closed: the harness closes every instance's at once, so they all call ``sqlmig.apply()``
together, with their interpreter start-up already behind them. Prints how many migrations this instance applied
and when its ``apply()`` returned (``time.monotonic()``, one clock for every process on the machine).
"""

from __future__ import annotations

import sys
import time

import psycopg  # noqa: F401 - an application has its database driver loaded before it migrates

import sqlmig


def main() -> None:
    """Wait for the release, apply, print the number applied."""
    if len(sys.argv) != 3:
        sys.exit("usage: worker.py URL DIR")
    print("ready", flush=True)
    sys.stdin.buffer.read()  # returns at end of file: the release
    report = sqlmig.apply(sys.argv[1], sys.argv[2])
    print(len(report), time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
