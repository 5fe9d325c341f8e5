"""Which targets a fan-out runs on: ``--schemas``, the rows of ``--schemas-from`` or ``[tool.sqlmig.targets]``, then
the shard of them (``--shard I/N``) this process takes."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from .. import config
from ..errors import ConfigError
from ..run.connection import connect
from ..targets import Shard, Target, TargetsConfig, parse_schemas, targets_from_rows


def select(
    settings: config.Settings,
    *,
    schemas: str | Sequence[str] | None = None,
    schemas_from: str | None = None,
    configured: TargetsConfig | None = None,
    shard: Shard | None = None,
) -> tuple[Target, ...]:
    """The targets of a fan-out: the given ``schemas`` (a list, or names separated by commas), else the rows of
    the ``schemas_from`` query (its first column names the schema, the others are that target's template
    variables), else the ``configured`` ones; then only ``shard``'s part of them. The query runs in a read-only
    transaction. Raises :class:`ConfigError` for no targets or more than one source, :class:`~sqlmig.ConnectError`
    and :class:`~sqlmig.DatabaseError` when the query cannot run."""
    given = [x for x in (schemas, schemas_from) if x is not None]
    if len(given) > 1:
        raise ConfigError("give the targets one way: --schemas or --schemas-from, not both")
    if not given and configured is not None:
        schemas, schemas_from = configured.schemas or None, configured.schemas_from
    if isinstance(schemas, str):
        targets = tuple(Target(s) for s in parse_schemas(schemas))
    elif schemas is not None:
        targets = tuple(Target(s) for s in parse_schemas(",".join(schemas)))  # the same checks as --schemas
    elif schemas_from is not None:
        targets = query_targets(settings, schemas_from)
    else:
        raise ConfigError("no targets: give --schemas a,b,c, --schemas-from 'SELECT …' or [tool.sqlmig.targets]")
    return shard.select(targets) if shard is not None else targets


def query_targets(settings: config.Settings, query: str) -> tuple[Target, ...]:
    """The targets the rows of ``query`` name, read in a read-only transaction (the query can change nothing).
    Raises :class:`ConfigError` when the query fails or its rows are not targets."""
    with connect(None, settings) as conn:
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                cur = conn.cursor().execute(query)
                if cur.description is None:
                    raise ConfigError(f"--schemas-from returned no rows: give a query, got {query!r}")
                columns = [c.name for c in cur.description]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            raise ConfigError(
                f"--schemas-from: the query failed: {exc.diag.message_primary or exc}. It runs read-only and must "
                "return the schema names in its first column"
            ) from None
    return targets_from_rows(columns, rows)
