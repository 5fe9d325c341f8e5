"""The project folder and its files: the nearest ``pyproject.toml`` with a ``[tool.sqlmig]`` table (parsed once, and
checked for unknown keys and types) and the ``.env`` file beside it. :mod:`sqlmig.config` resolves the settings
from them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError

# The keys of [tool.sqlmig]: every setting of sqlmig.config.Overrides but the database URL (it holds a password,
# and pyproject.toml is committed), the environment variables templates may read, and the folder of the stubs.
KEYS = {
    "directory",
    "history_table",
    "schema",
    "vars",
    "env",
    "lock_wait",
    "allow_out_of_order",
    "stubs",
    "lock_timeout",
    "statement_timeout",
    "lock_retries",
    "invalid_index",
    "role",
    "wait",
    "targets",
    "lint",
    "lint_rules",
    "idempotent",
}


def find_project(start: Path) -> Path | None:
    """The nearest folder from ``start`` up (``start`` included) whose ``pyproject.toml`` has a ``[tool.sqlmig]``
    table, or None. Reads files."""
    found = find(start)
    return found[0] if found else None


def find(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest project folder from ``start`` up and its checked ``[tool.sqlmig]`` table, or None; each
    ``pyproject.toml`` is parsed once. Reads files; raises :class:`ConfigError` for invalid TOML or an invalid
    ``[tool.sqlmig]`` table."""
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        try:
            data = path.read_bytes()
        except OSError:
            continue
        tool = toml_document(path, data).get("tool", {}) if b"sqlmig" in data else {}
        if "sqlmig" in tool:
            return folder, _checked(path, tool["sqlmig"])
    return None


def toml_document(path: Path, data: bytes) -> dict[str, Any]:
    """``data``, the bytes of the TOML file ``path``, as a dict. Raises :class:`ConfigError` naming ``path``
    when it is not TOML (or not UTF-8). Pure."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        return document
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _checked(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    """The ``[tool.sqlmig]`` table of ``path``, checked for unknown keys and types."""
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.sqlmig]: {', '.join(unknown)}; known: {sorted(KEYS)}")
    if not isinstance(table.get("vars", {}), dict):
        raise ConfigError(f"{path}: [tool.sqlmig] vars must be a table of name = value")
    env = table.get("env", [])
    if not isinstance(env, list) or not all(isinstance(n, str) for n in env):
        raise ConfigError(f"{path}: [tool.sqlmig] env must be a list of environment variable names")
    return dict(table)


def read_dotenv(path: Path) -> dict[str, str]:
    """Variables of a ``.env`` file (empty if there is none), read by python-dotenv: ``NAME=value`` lines, optional
    ``export``, quotes, ``#`` comments, multi-line quoted values and escapes in double quotes. A name without ``=``
    sets nothing, and a line that cannot be parsed is skipped with a warning on the ``dotenv.main`` logger. Values are
    taken as written, never expanded: a ``${...}`` in a password stays as it is. Raises ``OSError`` if the file
    cannot be read and ``UnicodeDecodeError`` if it is not UTF-8."""
    if not os.path.lexists(path):  # the common case; python-dotenv reads a missing file as empty too
        return {}
    # Imported on first use: python-dotenv brings tempfile and shutil, about a tenth of the start-up of
    # `sqlmig --help`, and 6 ms of every command's run in a project without a .env file.
    from dotenv import dotenv_values

    return {name: value for name, value in dotenv_values(path, interpolate=False).items() if value is not None}
