"""The history table: read it, create or upgrade it, and the SQL that records or removes one migration.

The table is a superset of the seed's own runner's ``migration_history(id serial, name varchar(255) unique,
type varchar(50), executed_at timestamp)``, so a database migrated by that runner is adopted in place.
Every statement is schema-qualified: pg_dump files reset ``search_path``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from . import __version__
from .errors import ConfigError
from .model import Applied, MigrationFile

HistoryState = Literal["missing", "legacy", "current"]

# Columns sqlmig adds to the seed runner's table; adopting a database adds exactly these.
EXTRA_COLUMNS = (
    ("version", "varchar(32)"),
    ("checksum", "varchar(64)"),
    ("rendered_checksum", "varchar(64)"),
    ("duration_ms", "integer"),
    ("executed_by", "text"),
    ("sqlmig_version", "text"),
)


@dataclass(frozen=True)
class TableName:
    """A schema-qualified table name, always used through ``psycopg.sql.Identifier``."""

    schema: str
    name: str

    @classmethod
    def parse(cls, qualified: str) -> TableName:
        """``schema.table`` or ``table`` (schema ``public``); raises :class:`ConfigError` on anything else."""
        parts = qualified.split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"history table must be 'schema.table' or 'table', got {qualified!r}")
        return cls("public", parts[0]) if len(parts) == 1 else cls(parts[0], parts[1])

    @property
    def ident(self) -> sql.Identifier:
        """The quoted, qualified identifier."""
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class History:
    """The rows of the history table and whether the table is missing, in the seed runner's format, or current."""

    rows: tuple[Applied, ...]
    state: HistoryState


def read(conn: psycopg.Connection[tuple[object, ...]], table: TableName) -> History:
    """All history rows, in one query (two for a table in the seed runner's format). Read-only; no lock."""
    query = sql.SQL("SELECT name, type, version, checksum, rendered_checksum, executed_at FROM {} ORDER BY id")
    # A tuple cursor: the caller's connection may have another row factory.
    cur = conn.cursor(row_factory=tuple_row)
    try:
        cur.execute(query.format(table.ident))
    except psycopg.errors.UndefinedTable:
        return History((), "missing")
    except psycopg.errors.UndefinedColumn:
        legacy = sql.SQL("SELECT name, type, NULL, NULL, NULL, executed_at FROM {} ORDER BY id")
        cur.execute(legacy.format(table.ident))
        return History(tuple(Applied(*row) for row in cur), "legacy")
    return History(tuple(Applied(*row) for row in cur), "current")


def ensure(conn: psycopg.Connection[tuple[object, ...]], table: TableName, state: HistoryState) -> None:
    """Create the table, or add sqlmig's columns to a table written by the seed's runner. Writes; call it under
    the migration lock. Does nothing for a current table, so the common path takes no table lock."""
    if state == "current":
        return
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE,"
                " type varchar(50) NOT NULL, executed_at timestamp NOT NULL DEFAULT now())"
            ).format(table.ident)
        )
        adds = sql.SQL(", ").join(
            sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(sql.Identifier(col), sql.SQL(kind))
            for col, kind in EXTRA_COLUMNS
        )
        conn.execute(sql.SQL("ALTER TABLE {} ").format(table.ident) + adds)
        conn.execute(
            sql.SQL(
                "UPDATE {} SET version = left(name, 15) WHERE version IS NULL AND name ~ '^[0-9]{{8}}_[0-9]{{6}}'"
            ).format(table.ident)
        )


def record_query(table: TableName) -> sql.Composed:
    """INSERT of one history row. Parameters: name, type, version, checksum, rendered_checksum, duration_ms
    (None: measured by the server as the time since the transaction began), sqlmig version."""
    return sql.SQL(
        "INSERT INTO {} (name, type, version, checksum, rendered_checksum, duration_ms, executed_by,"
        " sqlmig_version, executed_at) VALUES (%s, %s, %s, %s, %s,"
        " coalesce(%s, (extract(epoch FROM clock_timestamp() - now()) * 1000)::integer),"
        " current_user, %s, now())"
    ).format(table.ident)


def record_params(file: MigrationFile, rendered_checksum: str, duration_ms: int | None) -> tuple[object, ...]:
    """Parameters of :func:`record_query` for ``file``."""
    return (file.name, file.track, file.version, file.up.checksum, rendered_checksum, duration_ms, __version__)


def unrecord_query(table: TableName) -> sql.Composed:
    """DELETE of one history row. Parameters: name, type."""
    return sql.SQL("DELETE FROM {} WHERE name = %s AND type = %s").format(table.ident)


def accept(conn: psycopg.Connection[tuple[object, ...]], table: TableName, files: list[MigrationFile]) -> int:
    """Store the current checksums of ``files`` as the applied ones. Writes; returns the number of rows changed."""
    query = sql.SQL("UPDATE {} SET checksum = %s WHERE name = %s AND type = %s AND checksum IS DISTINCT FROM %s")
    changed = 0
    with conn.transaction():
        for f in files:
            cur = conn.execute(query.format(table.ident), (f.up.checksum, f.name, f.track, f.up.checksum))
            changed += cur.rowcount
    return changed
