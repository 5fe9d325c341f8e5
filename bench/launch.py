"""Run one command and report its wall time, exit code and peak RSS.

Usage: ``python -I -S bench/launch.py RESULT_FILE COMMAND [ARG ...]``. Writes ``{"seconds": …, "exit": …,
"maxrss_kb": …, "cpu_seconds": …}`` to ``RESULT_FILE``; the command inherits the standard streams, working
directory and environment. ``cpu_seconds`` is the user+sys CPU time of the command and of every descendant it
waited for (the rusage ``wait4`` returns counts the child's reaped children too), so a ``xargs psql`` command
reports the CPU of all its psql processes.

Why a launcher: on Linux a process's ``ru_maxrss`` keeps the high-water mark of the memory it had before
``exec``. ``subprocess.Popen`` starts children with ``vfork``, whose pre-exec memory is the parent's, so
``os.wait4()`` on a child of the benchmark reports at least the benchmark's own peak RSS (psql showed 48 MB).
Forked from this small process instead, a child's ``ru_maxrss`` is its own (plus at most this process's ~5 MB).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    """Fork, exec the command, wait for it, write the result."""
    if len(sys.argv) < 3:
        sys.exit("usage: launch.py RESULT_FILE COMMAND [ARG ...]")
    result, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)  # noqa: S606 - the command is the benchmark's own, as a list
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(result, "w", encoding="utf-8") as out:
        json.dump(
            {
                "seconds": seconds,
                "exit": os.waitstatus_to_exitcode(status),
                "maxrss_kb": usage.ru_maxrss,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            },
            out,
        )


if __name__ == "__main__":
    main()
