"""One application instance of the model test: apply the migrations, then the seeds, and print the outcome as JSON.

Usage: ``python model_worker.py URL DIRECTORY BARRIER``. It imports everything it needs, writes
``BARRIER/ready-<pid>`` and waits for ``BARRIER/go``, so that all instances of a round start together. Prints
``{"applied": [names], "error": null}`` or ``{"applied": [...], "error": {"type", "sqlmig", "message",
"exit_code", "applied", "traceback"}}``; exits 0, the SqlmigError's exit code (``worker.describe``: the one the
``sqlmig`` command exits with), or 70 for any other exception.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from worker import describe, wait_at_barrier  # beside this file, which runs as a script

import sqlmig
import sqlmig.api

# The execution modules, the parser and the renderer load before the barrier: it should not wait on imports. It is
# sqlmig.run.execute in this release and sqlmig.execute in older ones, which these workers also run.
try:
    import sqlmig.run.execute
except ModuleNotFoundError:
    import sqlmig.execute  # type: ignore[import-not-found,no-redef,unused-ignore]


def main(url: str, directory: str, barrier: str) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    wait_at_barrier(Path(barrier))
    applied: list[str] = []
    try:
        for track in ("migrate", "seed"):
            applied += sqlmig.apply(url, directory, track=track).names
    except Exception as exc:
        code, error = describe(exc)
        print(json.dumps({"applied": applied, "error": error}), flush=True)
        return code
    print(json.dumps({"applied": applied, "error": None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
