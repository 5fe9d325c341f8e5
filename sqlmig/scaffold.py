"""``sqlmig new``: write a new pair of migration files from stub templates; ``sqlmig init``: start a project.

Stubs are Jinja2 templates shipped in ``sqlmig/templates/`` (``migrate.up.sql``, ``migrate.down.sql``,
``seed.up.sql``, ``seed.down.sql``); a project overrides any of them with a file of the same name in the folder
named by ``[tool.sqlmig] stubs``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError, RenderError
from .model import TRACKS, Track, version_of
from .project import toml_document

_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")
_STUB_HINT = "stub templates see name, schema, table and created; fix the stub or remove it to use sqlmig's own"


def normalise_name(name: str) -> str:
    """``"Add New-Column"`` -> ``"add_new_column"``: every run of characters other than ASCII letters and digits
    becomes one ``_``, so a name can never carry a line break into the files. Raises :class:`ConfigError` when
    nothing usable remains."""
    normalised = _NAME_CHARS.sub("_", name.strip().lower()).strip("_")
    if not normalised:
        raise ConfigError(f"--name {name!r} has no letters or digits; use e.g. --name add_users_table")
    if len(normalised) > 200:
        raise ConfigError("--name is too long: the history table stores names of at most 255 characters")
    return normalised


def schema_text(schema: str) -> str:
    """The schema as the stubs write it: as given when it is a plain lower-case name, else a quoted identifier.

    Raises :class:`ConfigError` for an empty name and for one with a character that is not printable (line breaks,
    other control and invisible characters): the stubs write the schema into ``--`` comments, which a line break
    would end, turning the rest of the value into live SQL.
    """
    from .render import quote_ident

    if not schema:
        raise ConfigError("--schema is empty: give a schema name such as --schema public, or leave the option out")
    bad = next((c for c in schema if not c.isprintable()), None)
    if bad is not None:
        raise ConfigError(
            f"--schema {schema!r} contains U+{ord(bad):04X}, a line break, control or invisible character: "
            "give a schema name of printable characters"
        )
    return schema if _PLAIN_IDENT.fullmatch(schema) else quote_ident(schema)


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

    Creates the folder if needed. The version is the current second, or the next one that no file of either track
    uses: runs at the same time (a script, a team's shared folder) take the migrations folder's lock in turn, so
    each gets a version of its own, and a name can never be used by both tracks. Never overwrites a file. Raises
    :class:`ConfigError` for an unusable name or schema or a folder that cannot be written (nothing is left
    behind), :class:`RenderError` for a project stub that cannot be rendered. Writes files only.
    """
    label = normalise_name(name)
    written_schema = None if schema is None else schema_text(schema)
    folder = directory / track
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise ConfigError(
            f"{_shown(folder)} is not a folder: move it away, {track} files are kept in a folder of that name"
        ) from exc
    except OSError as exc:
        raise _write_error(f"cannot create the folder {_shown(folder)}", exc, folder.parent) from exc
    moment = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    with _exclusive(directory):
        taken = _versions(directory)
        while True:
            while moment.strftime("%Y%m%d_%H%M%S") in taken:
                moment += timedelta(seconds=1)
            version = moment.strftime("%Y%m%d_%H%M%S")
            table = label[len("create_") :] if label.startswith("create_") and written_schema else None
            context = {"name": f"{version}_{label}", "schema": written_schema, "table": table, "created": moment}
            texts = [_render_stub(track, kind, stubs, context) for kind in ("up", "down")]
            paths = (folder / f"{version}_{label}.up.sql", folder / f"{version}_{label}.down.sql")
            if _write_pair(paths, texts, folder):
                return paths
            taken.add(version)  # made by something that does not take the lock: try the next second


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the migrations folder itself (no lock file is left in the project), so that runs
    of ``new`` at the same time choose their versions one after the other."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): versions may then clash, which discovery reports; nothing is lost
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise _write_error(f"cannot open the folder {_shown(directory)}", exc, directory) from exc
    try:
        with contextlib.suppress(OSError):  # a file system without flock (some network mounts): as without fcntl
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _versions(directory: Path) -> set[str]:
    """The versions that ``.sql`` files of either track use (read under the lock)."""
    taken: set[str] = set()
    for track in TRACKS:
        with contextlib.suppress(FileNotFoundError):
            taken.update(version_of(name) for name in os.listdir(directory / track) if name.endswith(".sql"))
    return taken


def _write_pair(paths: tuple[Path, Path], texts: list[str], folder: Path) -> bool:
    """Create both files, or neither: False when one of them exists already; raises :class:`ConfigError` when the
    folder cannot be written."""
    created: list[Path] = []
    try:
        for path, text in zip(paths, texts, strict=True):
            with open(path, "x", encoding="utf-8") as fh:  # "x": fail rather than overwrite, even in a race
                created.append(path)
                fh.write(re.sub(r"\n{3,}", "\n\n", text).lstrip("\n"))
        return True
    except FileExistsError:
        _remove(created)
        return False
    except OSError as exc:
        _remove(created)
        raise _write_error(f"cannot write {_shown(path)}", exc, folder) from exc


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _write_error(what: str, exc: OSError, folder: Path) -> ConfigError:
    return ConfigError(
        f"{what}: {exc.strerror or exc}; check that the user running sqlmig may write to {_shown(folder)}"
    )


def _shown(path: Path) -> str:
    return os.path.relpath(path) if path.is_absolute() and Path.cwd() in path.parents else str(path)


def _render_stub(track: Track, kind: str, stubs: Path | None, context: dict[str, Any]) -> str:
    from .render import TemplateContext, render_text

    filename = f"{track}.{kind}.sql"
    if stubs is not None and (stubs / filename).is_file():
        path = stubs / filename
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the stub {_shown(path)}: {exc}; it must be a readable UTF-8 file") from exc
    else:
        source = resources.files("sqlmig") / "templates" / filename
        path, text = Path(str(source)), source.read_text(encoding="utf-8")
    context = {**context, "created": context["created"].isoformat()}
    try:
        return render_text(path, text, TemplateContext(vars=context))
    except RenderError as exc:
        raise RenderError(exc.path, exc.line, exc.message, _STUB_HINT) from exc


INIT_TABLE = """
[tool.sqlmig]
# Lint reports the safety rules and the project conventions (schema-qualified names, IF [NOT] EXISTS, DDL and
# DML in their tracks, ON CONFLICT); ["safety"] keeps only the first. sqlmig's documentation (docs/lint.md)
# describes every rule.
lint_rules = ["safety", "conventions"]
"""


def init_project(folder: Path, directory: str = "migrations") -> list[str]:
    """Start a project in ``folder``: create ``<directory>/migrate`` and ``<directory>/seed``, and give its
    ``pyproject.toml`` a ``[tool.sqlmig]`` table that turns on both lint rule sets (and names ``directory`` when it
    is not the default): the file is created if missing and appended to otherwise, and left as it is when it has a
    ``[tool.sqlmig]`` table already. Returns what it did, one line each. Never overwrites. Raises
    :class:`ConfigError` when a file or folder cannot be written. Writes files."""
    pyproject = folder / "pyproject.toml"
    text = _pyproject_text(pyproject)
    done = []
    for track in TRACKS:
        path = folder / directory / track
        if not path.is_dir():
            try:
                path.mkdir(parents=True)
            except OSError as exc:
                raise _write_error(f"cannot create the folder {_shown(path)}", exc, path.parent) from exc
            done.append(f"Created {_shown(path)}/")
    if text is not None and "sqlmig" in toml_document(pyproject, text.encode()).get("tool", {}):
        done.append(f"Left {_shown(pyproject)} as it is: it has a [tool.sqlmig] table already")
        return done
    table = INIT_TABLE + (f"directory = {_toml_string(directory)}\n" if directory != "migrations" else "")
    try:
        with open(pyproject, "a", encoding="utf-8") as out:
            out.write(table.lstrip("\n") if not text else ("" if text.endswith("\n") else "\n") + table)
    except OSError as exc:
        raise _write_error(f"cannot write {_shown(pyproject)}", exc, folder) from exc
    done.append(f"{'Added [tool.sqlmig] to' if text else 'Created'} {_shown(pyproject)}")
    return done


def _pyproject_text(pyproject: Path) -> str | None:
    """The text of ``pyproject`` (None when there is none), checked to be TOML: a table appended to a file that is
    not would not be read either. Raises :class:`ConfigError`."""
    try:
        text = pyproject.read_text(encoding="utf-8") if pyproject.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {_shown(pyproject)}: {exc}") from exc
    if text is not None:
        toml_document(pyproject, text.encode())
    return text


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
