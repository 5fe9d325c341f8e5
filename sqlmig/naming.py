"""The naming rule of migration files, and migration names across tracks.

A migration's name (its file name without ``.up.sql``/``.down.sql``) is the history's unique key, so a name may
be used by one track only. Pure apart from listing folders: no file is read here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import FileProblem
from .model import TRACKS, MigrationFile, Track

# ASCII digits only: Python's \d also matches the digits of other scripts (U+FF12 FULLWIDTH DIGIT TWO), and such a
# version would sort after every real one. The time part is deliberately not checked as a clock time: real projects
# have versions like 20230322_519590.
NAME_RE = re.compile(r"^(?P<version>[0-9]{8}_[0-9]{6})_(?P<label>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<kind>up|down)\.sql\Z")
NAMING_RULE = "expected <YYYYMMDD>_<HHMMSS>_<name>.up.sql or .down.sql"


def up_names(folder: Path) -> dict[str, Path]:
    """The names of the migrations of a track folder (those with an up file), each with its up file's path, from
    the folder's listing alone. A folder that is missing or cannot be listed has none here: its own discovery says
    what is wrong with it."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return {}
    found = {}
    for entry in entries:
        match = NAME_RE.match(entry)
        if match is not None and match["kind"] == "up":
            found[entry[: match.start("kind") - 1]] = folder / entry
    return found


def name_clashes(directory: Path, found: Mapping[Track, Iterable[MigrationFile]]) -> list[FileProblem]:
    """A problem for each migration in ``found`` (the migrations found in some track folders of ``directory``)
    whose name a migration of another track also uses, naming both up files. The folders of the other tracks are
    listed (:func:`up_names`), not read."""
    names = {t: {f.name: f.up.path for f in found[t]} if t in found else up_names(directory / t) for t in TRACKS}
    problems = []
    for track in found:
        for other, theirs in names.items():
            for name in sorted(names[track].keys() & theirs.keys() if other != track else ()):
                why = (
                    f"the name {name} is also used in {other}/ ({theirs[name]}): the history records migrations by "
                    "name, so a name may be in one track only; give the one not applied yet a new timestamp "
                    "(rename its .up.sql and .down.sql)"
                )
                problems.append(FileProblem(names[track][name], 0, why))
    return problems
