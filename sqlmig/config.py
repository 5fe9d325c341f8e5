"""Configuration: flags > environment > ``.env`` > ``[tool.sqlmig]`` in ``pyproject.toml`` > defaults.

Database URL variables, most preferred first: ``SQLMIG_DATABASE_URL``, ``DIRECT_URL`` (a direct connection, as
Prisma and Supabase name it: session locks and transaction-mode poolers do not mix), ``DATABASE_URL``. ``.env``
(read with python-dotenv) fills in variables the environment does not set, then the first of these names wins.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .model import InvalidIndexAction, TableName

URL_VARIABLES = ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL")
DEFAULT_DIRECTORY = "migrations"
DEFAULT_HISTORY_TABLE = "public.migration_history"
DEFAULT_LOCK_WAIT = 300.0
# Per-migration limits, as in strong_migrations: a DDL statement that cannot get its table lock within 5 s gives
# up (and is retried) instead of queueing every query on that table behind it.
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "1h"
DEFAULT_LOCK_RETRIES = 3
INVALID_INDEX_ACTIONS = ("drop", "refuse")
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")
_KEYS = {
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
    "lint",
    "idempotent",
}


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved. ``database_url`` is None when no URL is configured anywhere;
    ``url_source`` says where it came from (e.g. ``DIRECT_URL (.env)``)."""

    database_url: str | None = None
    url_source: str = ""
    directory: Path = Path(DEFAULT_DIRECTORY)
    history_table: str = DEFAULT_HISTORY_TABLE
    schema: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    lock_wait: float = DEFAULT_LOCK_WAIT
    allow_out_of_order: bool = False
    stubs: Path | None = None
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    lock_retries: int = DEFAULT_LOCK_RETRIES
    invalid_index: InvalidIndexAction = "drop"
    role: str | None = None
    wait: float = 0.0
    lint: bool = False
    idempotent: bool = False


def load(
    *,
    database_url: str | None = None,
    directory: str | Path | None = None,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    history_table: str | None = None,
    lock_wait: float | None = None,
    allow_out_of_order: bool | None = None,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    lock_retries: int | None = None,
    invalid_index: str | None = None,
    role: str | None = None,
    wait: float | None = None,
    lint: bool | None = None,
    idempotent: bool | None = None,
    cwd: Path | None = None,
    caller: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings; explicit arguments (the CLI's flags) win. Reads ``.env`` and ``pyproject.toml`` in the
    project folder: the nearest folder from ``cwd`` (default: the working directory) up whose ``pyproject.toml``
    has a ``[tool.sqlmig]`` table, as pytest and ruff find their configuration; when there is none, the same from
    ``caller`` (the folder of the module that called the API); else ``cwd`` itself. The configured ``directory``
    and ``stubs`` are relative to that folder, a given ``directory`` to ``cwd``. Raises :class:`ConfigError` for an
    invalid ``[tool.sqlmig]``."""
    start = cwd or Path.cwd()
    found = _find_project(start) or (_find_project(caller) if caller is not None else None)
    cwd, project = found or (start, {})
    merged = {**read_dotenv(cwd / ".env"), **(os.environ if environ is None else environ)}
    url, source = database_url, "the given URL"
    if url is None:
        url, source = next(((merged[n], _origin(n, environ)) for n in URL_VARIABLES if merged.get(n)), (None, ""))
    allowed = project.get("env", [])
    # A given directory is relative to where the caller is (as a command-line path), the configured one to the
    # project folder (as ruff's and pytest's settings are relative to their file).
    base = start / directory if directory is not None else cwd / project.get("directory", DEFAULT_DIRECTORY)
    stubs = project.get("stubs")
    return Settings(
        database_url=url,
        url_source=source,
        directory=base,
        history_table=_table(history_table or project.get("history_table", DEFAULT_HISTORY_TABLE)),
        schema=schema if schema is not None else project.get("schema"),
        vars={**project.get("vars", {}), **(vars or {})},
        env={name: merged[name] for name in allowed if name in merged},
        lock_wait=float(lock_wait if lock_wait is not None else project.get("lock_wait", DEFAULT_LOCK_WAIT)),
        allow_out_of_order=bool(
            allow_out_of_order if allow_out_of_order is not None else project.get("allow_out_of_order", False)
        ),
        stubs=(cwd / stubs) if stubs else None,
        lock_timeout=_duration("lock_timeout", _pick(lock_timeout, project, "lock_timeout", DEFAULT_LOCK_TIMEOUT)),
        statement_timeout=_duration(
            "statement_timeout", _pick(statement_timeout, project, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT)
        ),
        lock_retries=_count("lock_retries", _pick(lock_retries, project, "lock_retries", DEFAULT_LOCK_RETRIES)),
        invalid_index=_choice("invalid_index", _pick(invalid_index, project, "invalid_index", "drop")),
        role=_pick(role, project, "role", None),
        wait=float(_pick(wait, project, "wait", 0.0)),
        lint=_flag("lint", _pick(lint, project, "lint", False)),
        idempotent=_flag("idempotent", _pick(idempotent, project, "idempotent", False)),
    )


def _table(value: Any) -> str:
    """A history table name, ``schema.table`` or ``table``."""
    try:
        TableName.parse(str(value))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return str(value)


def _pick(given: Any, project: Mapping[str, Any], key: str, default: Any) -> Any:
    return given if given is not None else project.get(key, default)


def _duration(name: str, value: Any) -> str:
    """A PostgreSQL duration (``5s``, ``500ms``, ``1h``; a bare number is milliseconds; ``0`` is none)."""
    text = str(value).strip().lower()
    if not _DURATION.match(text):
        raise ConfigError(f"{name} must be a duration such as 5s, 500ms, 1h or 0 (none), got {value!r}")
    return text


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a whole number of 0 or more, got {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _choice(name: str, value: Any) -> InvalidIndexAction:
    if value == "drop" or value == "refuse":
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"{name} must be one of {', '.join(INVALID_INDEX_ACTIONS)}, got {value!r}")


def _origin(name: str, environ: Mapping[str, str] | None) -> str:
    return name if name in (os.environ if environ is None else environ) else f"{name} (.env)"


def find_project(start: Path) -> Path | None:
    """The nearest folder from ``start`` up (``start`` included) whose ``pyproject.toml`` has a ``[tool.sqlmig]``
    table, or None. Reads files."""
    found = _find_project(start)
    return found[0] if found else None


def _find_project(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The project folder and its checked ``[tool.sqlmig]`` table, each ``pyproject.toml`` parsed once."""
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        try:
            data = path.read_bytes()
        except OSError:
            continue
        tool = _toml(path, data).get("tool", {}) if b"sqlmig" in data else {}
        if "sqlmig" in tool:
            return folder, _checked(path, tool["sqlmig"])
    return None


def _toml(path: Path, data: bytes) -> dict[str, Any]:
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
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.sqlmig]: {', '.join(unknown)}; known: {sorted(_KEYS)}")
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
    # Imported on first use: python-dotenv brings tempfile and shutil, about a tenth of the start-up of
    # `sqlmig --help`, which like `import sqlmig` never reads .env.
    from dotenv import dotenv_values

    return {name: value for name, value in dotenv_values(path, interpolate=False).items() if value is not None}


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (the CLI's ``--var``) as a dict; raises :class:`ConfigError` on a malformed one."""
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"--var expects NAME=VALUE with NAME a valid identifier, got {pair!r}")
        result[name] = value
    return result


# The password runs to the last '@' before the host, so an unencoded '@' in it is hidden too; a URL whose scheme
# was forgotten (user:password@host/db) is recognised by the same shape.
_URL_PASSWORD = re.compile(
    r"(?P<head>(?:[a-z][a-z0-9+.-]*://|(?<![\w:/@.-]))[^\s:/@?#\"']+:)"
    r"(?P<pw>(?!//)[^\s\"'/?#]*)"
    r"(?=@[^\s@\"'/?#]*(?:[/?#\s\"']|$))",
    re.IGNORECASE,
)
_DSN_PASSWORD = re.compile(r"(?P<head>(?:^|(?<=\s))password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.IGNORECASE)


def redact(text: str, url: str | None = None) -> str:
    """``text`` with every password in a URL or ``key=value`` connection string replaced by ``***``; with
    ``url``, also every piece of that URL's password that libpq may have echoed elsewhere (an unencoded ``@``
    in a password makes libpq read the rest of it as the host name, which its error then shows)."""
    for secret in sorted(_password_pieces(url), key=len, reverse=True) if url else ():
        text = text.replace(secret, "***")
    for pattern in (_URL_PASSWORD, _QUERY_PASSWORD, _DSN_PASSWORD):
        text = pattern.sub(lambda m: m["head"] + ("***" if m["pw"] else ""), text)
    return text


_RAW_PASSWORD = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*://)?[^\s:/@?#]*:(?P<pw>[^\s/?#]*)@[^@]*$", re.IGNORECASE)


def _password_pieces(url: str) -> set[str]:
    found = {m["pw"] for p in (_QUERY_PASSWORD, _DSN_PASSWORD) for m in p.finditer(url)}
    raw = _RAW_PASSWORD.match(url.split("?", 1)[0])
    if raw:
        found |= {raw["pw"], *raw["pw"].split("@")}
    # Pieces too short to be told from ordinary text stay; the patterns above still hide them inside URLs.
    return {piece.strip("'") for piece in found if len(piece.strip("'")) >= 4}
