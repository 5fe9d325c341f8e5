"""Fan-out targets, pure: which schemas a fan-out runs on, their per-target variables, and which shard is whose.

Touches no connection and no file: the names come from ``--schemas``, from the rows of ``--schemas-from`` (the
caller runs the query) or from ``[tool.sqlmig.targets]`` (the caller reads the table), and every refusal is a
:class:`ConfigError` that says what to fix.

A schema name may hold any character but NUL (names are always quoted as identifiers), and at most 63 bytes of
UTF-8: PostgreSQL would silently cut a longer name, and two long names could then become the same schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import ConfigError

MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The template context's own names: a per-target variable of that name would be shadowed, or shadow them.
_RESERVED = ("schema", "env")
_SHARD = re.compile(r"\s*([0-9]{1,9})\s*/\s*([0-9]{1,9})\s*")
_SHARD_EXAMPLE = "give INDEX/COUNT with 1 <= INDEX <= COUNT, e.g. --shard 2/4 for the second of four shards"
# The variables of every target that has none: one shared, read-only mapping instead of a dict per target.
_NO_VARS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Target:
    """One schema of a fan-out and its template variables; its name is its schema.

    ``vars`` is copied on construction, so a caller's later change to its dict does not reach the target. The
    hash is the schema's alone (a fan-out's schemas are unique), which keeps a target hashable and picklable.
    """

    schema: str
    vars: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Slots and a shared empty mapping: a fan-out over 10,000 schemas holds 10,000 targets at once.
        object.__setattr__(self, "vars", dict(self.vars) if self.vars else _NO_VARS)

    def __reduce__(self) -> tuple[type[Target], tuple[str, dict[str, str]]]:
        return Target, (self.schema, dict(self.vars))  # a read-only mapping does not pickle


@dataclass(frozen=True)
class TargetsConfig:
    """A validated ``[tool.sqlmig.targets]`` table: a list of ``schemas`` or a ``schemas_from`` query."""

    schemas: tuple[str, ...] = ()
    schemas_from: str | None = None


def check_names(names: Iterable[str], source: str, *, empty: str = "remove it") -> tuple[str, ...]:
    """``names`` as a tuple; raises :class:`ConfigError` (prefixed by ``source``) for an empty (``empty`` says what to
    do), too long, NUL-holding, not UTF-8 (a command line's undecodable bytes) or repeated name."""
    checked: list[str] = []
    seen: set[str] = set()  # a set: fleets of thousands of schemas are checked in linear time
    for name in names:
        if not name:
            raise ConfigError(f"{source}: an empty schema name; {empty}")
        if "\x00" in name:
            raise ConfigError(f"{source}: schema name {name!r} contains a NUL character, which PostgreSQL refuses")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{source}: schema name {name!r} is not valid UTF-8; give it in UTF-8") from None
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ConfigError(
                f"{source}: schema name {name!r} is longer than PostgreSQL's {MAX_NAME_BYTES}-byte identifier limit "
                f"({len(name.encode('utf-8'))} bytes of UTF-8); shorten it"
            )
        if name in seen:
            raise ConfigError(f"{source}: schema {name!r} is listed twice; list each schema once")
        seen.add(name)
        checked.append(name)
    return tuple(checked)


def parse_schemas(text: str, *, source: str = "--schemas") -> tuple[str, ...]:
    """The names of a comma-separated list (``"a,b, c"`` -> ``("a", "b", "c")``), in order, stripped of the
    whitespace around each; ``source`` names the list in messages.

    Raises :class:`ConfigError` for an empty list or name, a name repeated, containing NUL or longer than 63 bytes.
    """
    names = (name.strip() for name in text.split(","))
    return check_names(names, source, empty="give names separated by single commas, e.g. a,b,c")


def targets_from_rows(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> tuple[Target, ...]:
    """The targets of a ``--schemas-from`` query's result, in row order: the first column is the schema, each other
    column a template variable named by its column, its value as ``str``. No rows is no targets.

    Raises :class:`ConfigError` for no columns, a column name that is not a template variable name (or is
    ``schema`` or ``env``, the template's own) or appears twice, a row of the wrong width, a schema that is NULL,
    not text or an invalid name (see :func:`parse_schemas`), a schema in two rows, and a NULL variable.
    """
    source = "--schemas-from"
    if not columns:
        raise ConfigError(f"{source}: the query returned no columns; its first column must be the schema name")
    names = list(columns[1:])
    for name in names:
        if not _VARIABLE.fullmatch(name):
            raise ConfigError(
                f"{source}: column {name!r} is not a template variable name ([A-Za-z_][A-Za-z0-9_]*); "
                "rename it in the query with AS, e.g. SELECT nspname, region AS tenant_region ..."
            )
        if name in _RESERVED:
            raise ConfigError(f"{source}: column {name!r} is a name templates already use; rename it in the query")
        if names.count(name) > 1:
            raise ConfigError(f"{source}: column {name!r} appears twice; give each column its own name")
    targets: list[Target] = []
    for row in rows:
        if len(row) != len(columns):
            raise ConfigError(f"{source}: a row has {len(row)} values for {len(columns)} columns")
        schema = row[0]
        if schema is None:
            raise ConfigError(f"{source}: a row's schema ({columns[0]!r}) is NULL; filter NULLs out in the query")
        if not isinstance(schema, str):
            raise ConfigError(f"{source}: the schema column {columns[0]!r} must be text; cast it with ::text")
        values = dict(zip(names, row[1:], strict=True))
        for name, value in values.items():
            if value is None:
                raise ConfigError(
                    f"{source}: column {name!r} is NULL for schema {schema!r}; give it a value (e.g. coalesce)"
                )
        targets.append(Target(schema, {name: str(value) for name, value in values.items()}))
    check_names((t.schema for t in targets), source, empty="filter empty names out in the query")
    return tuple(targets)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: the targets one machine of a fleet of ``count`` runs.

    A target belongs to shard ``shard_of(name, count)``: the first 8 bytes of the SHA-256 of its name in UTF-8, read
    as a big-endian unsigned integer, modulo ``count``, plus one. That is the same on every machine and in every
    Python process (``hash()`` is salted per process, so it is not used), depends only on the name and ``count``
    (adding or removing targets never moves another one), and the shards 1..count together hold every target
    exactly once. Changing it would reshuffle every fleet: tests pin it.

    Raises :class:`ConfigError` unless ``1 <= index <= count``.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard {self.index}/{self.count} does not exist; {_SHARD_EXAMPLE}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, targets: Iterable[Target]) -> tuple[Target, ...]:
        """The targets of this shard, in their input order."""
        return tuple(t for t in targets if shard_of(t.schema, self.count) == self.index)


def shard_of(name: str, count: int) -> int:
    """The shard (1-based) of ``count`` that the target ``name`` belongs to; see :class:`Shard`."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """``"I/N"`` as a :class:`Shard`; raises :class:`ConfigError`, with an example, for anything else, or unless
    ``1 <= I <= N``."""
    match = _SHARD.fullmatch(text)
    if not match:
        raise ConfigError(f"--shard expects INDEX/COUNT, got {text!r}; {_SHARD_EXAMPLE}")
    return Shard(int(match[1]), int(match[2]))


def targets_config(table: Mapping[str, object], source: str) -> TargetsConfig:
    """A ``[tool.sqlmig.targets]`` table, checked: exactly one of ``schemas`` (a non-empty list of schema names) and
    ``schemas_from`` (a non-blank SQL query), nothing else. ``source`` is the ``pyproject.toml`` path, named in
    messages.

    Raises :class:`ConfigError` naming ``source`` and the key at fault.
    """
    where = f"{source}: [tool.sqlmig.targets]"
    unknown = sorted(set(table) - {"schemas", "schemas_from"})
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}; known: schemas, schemas_from")
    if "schemas" in table and "schemas_from" in table:
        raise ConfigError(f"{where} has both schemas and schemas_from; keep one")
    if "schemas" in table:
        schemas = table["schemas"]
        if not isinstance(schemas, list) or not schemas or not all(isinstance(s, str) for s in schemas):
            raise ConfigError(
                f'{where} schemas must be a non-empty list of schema names, e.g. ["tenant_a", "tenant_b"]'
            )
        return TargetsConfig(schemas=check_names(schemas, f"{where} schemas"))
    query = table.get("schemas_from")
    if query is None:
        raise ConfigError(f"{where} needs schemas (a list of names) or schemas_from (a query returning them)")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(
            f"{where} schemas_from must be a SQL query returning schema names, "
            "e.g. \"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%'\""
        )
    return TargetsConfig(schemas_from=query)
