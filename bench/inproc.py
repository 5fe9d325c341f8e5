"""Time ``sqlmig.apply()`` as an application calls it at start-up: the driver is loaded already, sqlmig is not.

Usage: ``python bench/inproc.py URL DIR [migrate|seed]``. Prints ``{"seconds": …, "applied": …}``: the time from
``import sqlmig`` to the return of ``apply()``, and how many migrations it applied. Interpreter start-up and the
import of psycopg are not part of ``seconds``.
"""

from __future__ import annotations

import json
import sys
import time

import psycopg  # noqa: F401 - an application has its database driver loaded before it migrates


def main() -> None:
    """Apply ``DIR``'s pending migrations of the track to ``URL`` and print the JSON result."""
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["migrate"], ["seed"]):
        sys.exit("usage: inproc.py URL DIR [migrate|seed]")
    url, directory = sys.argv[1], sys.argv[2]
    seed = sys.argv[3:] == ["seed"]
    start = time.perf_counter()
    import sqlmig

    report = sqlmig.apply(url, directory, track="seed" if seed else "migrate")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "applied": len(report)}))


if __name__ == "__main__":
    main()
