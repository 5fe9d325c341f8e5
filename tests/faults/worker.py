"""One application instance starting up, for the fault tests: apply the migrations, print what happened as JSON.

Usage: ``python worker.py URL DIRECTORY [BARRIER]``. With ``BARRIER`` (a folder), the worker imports everything it
will need, writes ``BARRIER/ready-<pid>`` and waits for ``BARRIER/go`` before it calls ``sqlmig.apply()``, so
that many workers start at the same moment, not one interpreter start-up apart.

Prints one JSON document on stdout: ``{"started": unix_time, "applied": [names], "error": null}``, where
``started`` is when ``apply()`` was called, or with ``error`` set to
``{"type", "sqlmig", "message", "exit_code", "applied", "traceback"}``, where ``sqlmig`` says whether the exception
derives from ``sqlmig.SqlmigError``. Exits 0, the SqlmigError's exit code (the one the ``sqlmig`` command exits
with), or 70 for any other exception.
sqlmig's log (the migrations applied, who holds the lock while it waits) goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

import sqlmig
import sqlmig.api

# The execution modules, pglast and the renderer load before the barrier: it should not wait on imports. It is
# sqlmig.run.execute in this release and sqlmig.execute in older ones, which these workers also run.
try:
    import sqlmig.run.execute
except ModuleNotFoundError:
    import sqlmig.execute  # type: ignore[import-not-found,no-redef,unused-ignore]

# The command line owns the exit codes (sqlmig.cli.exits) in this release; in older ones each error class carries
# its own as ``exit_code``.
try:
    from sqlmig.cli.exits import exit_code
except ImportError:

    def exit_code(exc: sqlmig.SqlmigError) -> int:
        return exc.exit_code  # type: ignore[attr-defined,no-any-return,unused-ignore]


UNEXPECTED = 70
BARRIER_POLL = 0.005


def wait_at_barrier(barrier: Path) -> None:
    (barrier / f"ready-{os.getpid()}").touch()
    go = barrier / "go"
    while not go.exists():
        time.sleep(BARRIER_POLL)


def describe(exc: Exception) -> tuple[int, dict[str, object]]:
    """The exit status and the ``error`` document for an exception raised by ``sqlmig.apply()`` (see the module
    docstring)."""
    code = exit_code(exc) if isinstance(exc, sqlmig.SqlmigError) else UNEXPECTED
    return code, {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "sqlmig": isinstance(exc, sqlmig.SqlmigError),
        "message": str(exc),
        "exit_code": code,
        "applied": list(getattr(exc, "applied", ())),
        "traceback": traceback.format_exc(),
    }


def main(url: str, directory: str, barrier: str | None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if barrier:
        wait_at_barrier(Path(barrier))
    started = time.time()
    try:
        report = sqlmig.apply(url, directory)
    except Exception as exc:
        code, error = describe(exc)
        print(json.dumps({"started": started, "applied": [], "error": error}), flush=True)
        return code
    print(json.dumps({"started": started, "applied": list(report.names), "error": None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
