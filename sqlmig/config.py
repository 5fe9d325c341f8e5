"""Configuration: flags > environment > ``.env`` > ``[tool.sqlmig]`` in ``pyproject.toml`` > defaults.

Database URL variables, most preferred first: ``SQLMIG_DATABASE_URL``, ``DIRECT_URL`` (a direct connection, as
Prisma and Supabase name it: session locks and transaction-mode poolers do not mix), ``DATABASE_URL``. ``.env``
(read with python-dotenv) fills in variables the environment does not set, then the first of these names wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from .errors import ConfigError
from .model import InvalidIndexAction, TableName
from .project import find as _find_project
from .project import find_project as find_project  # public here, where it always was
from .project import read_dotenv as read_dotenv
from .redaction import redact as redact  # public here, where it always was
from .targets import TargetsConfig, targets_config

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
# The lint rule sets that lint_rules may name (sqlmig.lint.sets says which rules each holds), and the default.
LINT_RULE_SETS = ("safety", "conventions")
DEFAULT_LINT_RULES = ("safety",)
_RULE_CODE = re.compile(r"^SQM\d{3}$", re.IGNORECASE)
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


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
    lint_rules: tuple[str, ...] = DEFAULT_LINT_RULES
    idempotent: bool = False
    # The project folder: where the pyproject.toml with [tool.sqlmig] is, else the working directory. sqlmig's
    # data (.sqlmig/) lives there.
    root: Path = Path()
    # A fan-out target: its history is its own (see TableName.for_target). None for an ordinary run.
    target: str | None = None
    # The fan-out targets of [tool.sqlmig.targets], when the project names them.
    targets: TargetsConfig | None = None

    @property
    def history(self) -> TableName:
        """The history these settings read and write: the history table, or the target's rows beside it."""
        table = TableName.parse(self.history_table)
        return table if self.target is None else table.for_target(self.target)


@dataclass(frozen=True)
class Overrides:
    """The settings a caller gives explicitly (the CLI's flags, the API's keyword arguments), one field per
    keyword argument of :func:`load`: each one given wins over the environment, ``.env`` and ``[tool.sqlmig]``;
    None leaves the choice to them. Plain data: :func:`resolve` checks the values."""

    database_url: str | None = None
    directory: str | Path | None = None
    schema: str | None = None
    vars: Mapping[str, Any] | None = None
    history_table: str | None = None
    lock_wait: float | None = None
    allow_out_of_order: bool | None = None
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    lock_retries: int | None = None
    invalid_index: InvalidIndexAction | None = None
    role: str | None = None
    wait: float | None = None
    lint: bool | None = None
    lint_rules: Sequence[str] | None = None
    idempotent: bool | None = None


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
    lint_rules: Sequence[str] | None = None,
    idempotent: bool | None = None,
    cwd: Path | None = None,
    caller: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """:func:`resolve` with the overrides as keyword arguments (see :class:`Overrides`). Reads ``.env`` and
    ``pyproject.toml``; raises :class:`ConfigError` for an invalid configuration or argument."""
    given = Overrides(
        database_url=database_url,
        directory=directory,
        schema=schema,
        vars=vars,
        history_table=history_table,
        lock_wait=lock_wait,
        allow_out_of_order=allow_out_of_order,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=lock_retries,
        invalid_index=cast("InvalidIndexAction | None", invalid_index),  # resolve checks it, as every field
        role=role,
        wait=wait,
        lint=lint,
        lint_rules=lint_rules,
        idempotent=idempotent,
    )
    return resolve(given, cwd=cwd, caller=caller, environ=environ)


def resolve(
    overrides: Overrides | None = None,
    *,
    cwd: Path | None = None,
    caller: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings; the fields of ``overrides`` that are not None (the CLI's flags) win. Reads ``.env`` and
    ``pyproject.toml`` in the project folder: the nearest folder from ``cwd`` (default: the working directory) up
    whose ``pyproject.toml`` has a ``[tool.sqlmig]`` table, as pytest and ruff find their configuration; when there
    is none, the same from ``caller`` (the folder of the module that called the API); else ``cwd`` itself. The
    configured ``directory`` and ``stubs`` are relative to that folder, a given ``directory`` to ``cwd``. ``environ``
    stands for ``os.environ``. Raises :class:`ConfigError` for an invalid ``[tool.sqlmig]`` or override."""
    given = overrides or Overrides()
    start = cwd or Path.cwd()
    found = _find_project(start) or (_find_project(caller) if caller is not None else None)
    folder, project = found or (start, {})
    merged = {**read_dotenv(folder / ".env"), **(os.environ if environ is None else environ)}
    url, source = given.database_url, "the given URL"
    if url is None:
        url, source = next(((merged[n], _origin(n, environ)) for n in URL_VARIABLES if merged.get(n)), (None, ""))
    # A given directory is relative to where the caller is (as a command-line path), the configured one to the
    # project folder (as ruff's and pytest's settings are relative to their file).
    directory = (
        start / given.directory if given.directory is not None else folder / project.get("directory", DEFAULT_DIRECTORY)
    )
    stubs = project.get("stubs")
    located = Settings(
        database_url=url,
        url_source=source,
        directory=directory,
        env={name: merged[name] for name in project.get("env", []) if name in merged},
        stubs=(folder / stubs) if stubs else None,
        root=folder,
        targets=targets_config(project["targets"], str(folder / "pyproject.toml")) if "targets" in project else None,
    )
    return _chosen(located, given, project)


def _chosen(located: Settings, given: Overrides, project: Mapping[str, Any]) -> Settings:
    """``located`` (where the files, the server and the environment are) with every other setting: the override,
    else the project's value, else the default; each checked."""
    return replace(
        located,
        history_table=_table(given.history_table or project.get("history_table", DEFAULT_HISTORY_TABLE)),
        schema=_pick(given.schema, project, "schema", None),
        vars={**project.get("vars", {}), **(given.vars or {})},
        lock_wait=float(_pick(given.lock_wait, project, "lock_wait", DEFAULT_LOCK_WAIT)),
        allow_out_of_order=bool(_pick(given.allow_out_of_order, project, "allow_out_of_order", False)),
        lock_timeout=_duration(
            "lock_timeout", _pick(given.lock_timeout, project, "lock_timeout", DEFAULT_LOCK_TIMEOUT)
        ),
        statement_timeout=_duration(
            "statement_timeout",
            _pick(given.statement_timeout, project, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        ),
        lock_retries=_count("lock_retries", _pick(given.lock_retries, project, "lock_retries", DEFAULT_LOCK_RETRIES)),
        invalid_index=_choice("invalid_index", _pick(given.invalid_index, project, "invalid_index", "drop")),
        role=_pick(given.role, project, "role", None),
        wait=float(_pick(given.wait, project, "wait", 0.0)),
        lint=_flag("lint", _pick(given.lint, project, "lint", False)),
        lint_rules=_rules(_pick(given.lint_rules, project, "lint_rules", DEFAULT_LINT_RULES)),
        idempotent=_flag("idempotent", _pick(given.idempotent, project, "idempotent", False)),
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


def _rules(value: Any) -> tuple[str, ...]:
    """``lint_rules``: a list of rule set names (``safety``, ``conventions``) and rule codes (``SQM101``); whether a
    code names a rule that exists, :func:`sqlmig.lint.sets.select` checks."""
    valid = f"valid: {', '.join(LINT_RULE_SETS)}, or rule codes such as SQM101"
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f'lint_rules must be a list such as ["safety", "conventions"] ({valid}), got {value!r}')
    bad = [v for v in value if not isinstance(v, str) or not (v.lower() in LINT_RULE_SETS or _RULE_CODE.match(v))]
    if bad:
        shown = ", ".join(repr(v) for v in bad)
        raise ConfigError(f"lint_rules: unknown rule set or rule {shown}; {valid}")
    return tuple(v.lower() if v.lower() in LINT_RULE_SETS else v.upper() for v in value)


def _choice(name: str, value: Any) -> InvalidIndexAction:
    if value == "drop" or value == "refuse":
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"{name} must be one of {', '.join(INVALID_INDEX_ACTIONS)}, got {value!r}")


def _origin(name: str, environ: Mapping[str, str] | None) -> str:
    return name if name in (os.environ if environ is None else environ) else f"{name} (.env)"


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (the CLI's ``--var``) as a dict; raises :class:`ConfigError` on a malformed one."""
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"--var expects NAME=VALUE with NAME a valid identifier, got {pair!r}")
        result[name] = value
    return result
