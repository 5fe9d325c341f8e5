"""``sqlmig new``: write a new pair of migration files from stub templates.

Stubs are Jinja2 templates shipped in ``sqlmig/templates/`` (``migrate.up.sql``, ``migrate.down.sql``,
``seed.up.sql``, ``seed.down.sql``); a project overrides any of them with a file of the same name in the folder
named by ``[tool.sqlmig] stubs``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

from .errors import ConfigError
from .model import Track

_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def normalise_name(name: str) -> str:
    """``"Add New-Column"`` -> ``"add_new_column"``; raises :class:`ConfigError` when nothing usable remains."""
    normalised = _NAME_CHARS.sub("_", name.strip().lower()).strip("_")
    if not normalised:
        raise ConfigError(f"--name {name!r} has no letters or digits; use e.g. --name add_users_table")
    if len(normalised) > 200:
        raise ConfigError("--name is too long: the history table stores names of at most 255 characters")
    return normalised


def new_migration(
    directory: Path,
    track: Track,
    name: str,
    *,
    schema: str | None = None,
    stubs: Path | None = None,
    now: datetime | None = None,
) -> tuple[Path, Path]:
    """Create ``<directory>/<track>/<UTC timestamp>_<name>.up.sql`` and ``.down.sql``; returns their paths.

    Creates the folder if needed. Never overwrites: if the version is taken (two calls in the same second), the
    timestamp moves on a second until it is free. Writes files only.
    """
    from .render import environment, quote_ident

    if schema is not None and not _PLAIN_IDENT.fullmatch(schema):
        schema = quote_ident(schema)  # written into SQL: a name that needs quoting gets it
    label = normalise_name(name)
    folder = directory / track
    folder.mkdir(parents=True, exist_ok=True)
    moment = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    taken = {p.name[:15] for p in folder.glob("*.sql")}
    while moment.strftime("%Y%m%d_%H%M%S") in taken:
        moment += timedelta(seconds=1)
    version = moment.strftime("%Y%m%d_%H%M%S")
    table = label[len("create_") :] if label.startswith("create_") and schema else None
    context = {"name": f"{version}_{label}", "schema": schema, "table": table, "created": moment.isoformat()}
    paths = []
    for kind in ("up", "down"):
        text = environment().from_string(_stub(track, kind, stubs)).render(context)
        path = folder / f"{version}_{label}.{kind}.sql"
        with open(path, "x", encoding="utf-8") as fh:  # "x": fail rather than overwrite, even in a race
            fh.write(re.sub(r"\n{3,}", "\n\n", text).lstrip("\n"))
        paths.append(path)
    return paths[0], paths[1]


def _stub(track: Track, kind: str, stubs: Path | None) -> str:
    filename = f"{track}.{kind}.sql"
    if stubs is not None and (stubs / filename).is_file():
        return (stubs / filename).read_text(encoding="utf-8")
    return (resources.files("sqlmig") / "templates" / filename).read_text(encoding="utf-8")
