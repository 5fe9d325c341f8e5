"""Which targets a fan-out runs on: ``--schemas``, the rows of ``--schemas-from`` or ``[tool.sqlmig.targets]``, then
the shard of them (``--shard I/N``) this process takes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import tuple_row

from .. import config
from ..errors import ConfigError
from ..model import Conn
from ..run.connection import connect
from ..targets import Shard, Target, TargetsConfig, check_names, parse_schemas, targets_from_rows

if TYPE_CHECKING:
    from psycopg.pq.abc import PGresult


def select(
    settings: config.Settings,
    *,
    schemas: str | Sequence[str] | None = None,
    schemas_from: str | None = None,
    configured: TargetsConfig | None = None,
    shard: Shard | None = None,
    conn: Conn | None = None,
) -> tuple[Target, ...]:
    """The targets of a fan-out: the given ``schemas`` (a list, or names separated by commas), else the rows of
    the ``schemas_from`` query (its first column names the schema, the others are that target's template
    variables), else the ``configured`` ones; then only ``shard``'s part of them. The query runs in a read-only
    transaction, on ``conn`` if given (one from :func:`~sqlmig.run.connection.connect`), else on its own. Raises
    :class:`ConfigError` for no targets or more than one source, :class:`~sqlmig.ConnectError` and
    :class:`~sqlmig.DatabaseError` when the query cannot run."""
    given = [x for x in (schemas, schemas_from) if x is not None]
    if len(given) > 1:
        raise ConfigError("give the targets one way: --schemas or --schemas-from, not both")
    if not given and configured is not None:
        schemas, schemas_from = configured.schemas or None, configured.schemas_from
    if isinstance(schemas, str):
        targets = tuple(Target(s) for s in parse_schemas(schemas))
    elif schemas is not None:  # each listed name is one schema, checked as --schemas checks its names
        targets = tuple(Target(s) for s in check_names(list(schemas), "schemas"))
    elif schemas_from is not None:
        targets = query_targets(settings, schemas_from, conn)
    else:
        raise ConfigError("no targets: give --schemas a,b,c, --schemas-from 'SELECT …' or [tool.sqlmig.targets]")
    return shard.select(targets) if shard is not None else targets


def query_targets(settings: config.Settings, query: str, conn: Conn | None = None) -> tuple[Target, ...]:
    """The targets the rows of ``query`` name, read in a read-only transaction (the query can change nothing).
    Raises :class:`ConfigError` when the query fails or its rows are not targets."""
    columns, rows = _query(settings, query, "--schemas-from", conn)
    return targets_from_rows(columns, rows)


def databases(settings: config.Settings, source: str) -> tuple[tuple[str, str], ...]:
    """The databases of ``--databases-from``: the lines of file ``source`` (blank lines and ``#`` comments left
    out), else the first column of the rows of query ``source`` (read-only). Each is a URL (reported with its
    password hidden) or the name of a database on the server of ``settings``. Returns (name, URL) pairs in order.
    Raises :class:`ConfigError` for none, a repeated one, or a query that fails."""
    path = Path(source)
    if not _QUERY.match(source):  # a file: a query starts with its command
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"--databases-from: cannot read {source!r} ({exc.strerror}); give a file of URLs or database names, "
                "or a query (SELECT …)"
            ) from None
        lines = (line.strip() for line in text.splitlines())
        entries = [line for line in lines if line and not line.startswith("#")]
    else:
        _, rows = _query(settings, source, "--databases-from")
        entries = [str(row[0]) for row in rows if row and row[0] is not None]
    if not entries:
        raise ConfigError(f"--databases-from {source!r}: no databases")
    found = tuple(_database(settings, entry) for entry in entries)
    names = [name for name, _ in found]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"--databases-from: {', '.join(twice)} given more than once")
    return found


def _database(settings: config.Settings, entry: str) -> tuple[str, str]:
    if "://" in entry or "=" in entry:
        return config.redact(entry, entry), entry
    if not settings.database_url:
        raise ConfigError(f"--databases-from: {entry!r} is a database name, and there is no URL of its server")
    return entry, make_conninfo(settings.database_url, dbname=entry)


def _query(
    settings: config.Settings, query: str, flag: str, given: Conn | None = None
) -> tuple[list[str], Iterator[tuple[str | None, ...]]]:
    """The column names and rows of ``query``, each value in PostgreSQL's text form (what a template gets, as
    ``psql`` would print it: ``{"tier": "gold"}``, ``{a,b}``, ``t``). The query runs as one subquery of a SELECT in a
    read-only transaction: a second statement, a ``COMMIT`` or a data-modifying ``WITH`` is refused there."""
    single = f"SELECT * FROM (\n{query.strip().rstrip(';')}\n) AS sqlmig_targets"
    # A given connection is the caller's from connect(): its errors are reported by that, with the URL it names.
    with nullcontext(given) if given is not None else connect(None, settings) as conn:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                cur = conn.cursor(row_factory=tuple_row).execute(single)
                result = cur.pgresult
                if cur.description is None or result is None:
                    raise ConfigError(f"{flag} returned no rows: give a query, got {query!r}")
                columns = [c.name for c in cur.description]
        except psycopg.Error as exc:
            raise ConfigError(
                f"{flag}: the query failed: {exc.diag.message_primary or exc}. It runs read-only and must return "
                "the names in its first column"
            ) from None
    return columns, _rows(result, len(columns))


def _rows(result: PGresult, width: int) -> Iterator[tuple[str | None, ...]]:
    """The rows of ``result`` one by one, read from the server's result as they are taken: 10,000 targets are not
    held twice, once as rows and once as targets."""
    for r in range(result.ntuples):
        yield tuple(_text(result.get_value(r, c)) for c in range(width))


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


# A query starts with one of these (after spaces and comments are not expected); anything else is a file's path.
_QUERY = re.compile(r"\s*(SELECT|WITH|VALUES|TABLE|\()", re.IGNORECASE)
