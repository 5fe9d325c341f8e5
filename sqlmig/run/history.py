"""The history table: read it, create or upgrade it, and every statement that writes it (record or remove one
migration, a no-transaction file's progress and its completion, accept, baseline, forgetting the seeds). No other
module holds SQL on the history table.

The table is a superset of the seed's own runner's ``migration_history(id serial, name varchar(255) unique,
type varchar(50), executed_at timestamp)``, so a database migrated by that runner is adopted in place.
Every statement is schema-qualified: pg_dump files reset ``search_path``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import HistoryTableError
from ..model import Applied, MigrationFile, TableName
from ..version import __version__

HistoryState = Literal["missing", "legacy", "current"]

# Columns sqlmig adds to the seed runner's table; adopting a database adds exactly these.
EXTRA_COLUMNS = (
    ("version", "varchar(32)"),
    ("checksum", "varchar(64)"),
    ("rendered_checksum", "varchar(64)"),
    ("duration_ms", "integer"),
    ("executed_by", "text"),
    ("sqlmig_version", "text"),
    ("statements_done", "integer"),
    ("resume_line", "integer"),
    ("done_checksum", "varchar(64)"),
)
# The seed runner's columns: without them the table is not a history table sqlmig can read.
BASE_COLUMNS = ("id", "name", "type", "executed_at")
_READ_COLUMNS = (
    "name",
    "type",
    "version",
    "checksum",
    "rendered_checksum",
    "executed_at",
    "statements_done",
    "resume_line",
    "done_checksum",
)


@dataclass(frozen=True)
class History:
    """The rows of the history table and whether the table is missing, in the seed runner's format, or current."""

    rows: tuple[Applied, ...]
    state: HistoryState


def read(conn: psycopg.Connection[tuple[object, ...]], table: TableName) -> History:
    """All history rows, in one query (three for a table written by the seed's runner or an older sqlmig).
    Read-only; no lock. Raises :class:`HistoryTableError` for a table that lost columns sqlmig needs or holds a
    migration twice."""
    # A tuple cursor: the caller's connection may have another row factory.
    cur = conn.cursor(row_factory=tuple_row)
    try:
        cur.execute(_select(table, set(_READ_COLUMNS)))
        state: HistoryState = "current"
    except psycopg.errors.UndefinedTable:
        return History((), "missing")
    except psycopg.errors.UndefinedColumn:
        found = _columns(conn, table)
        lost = [c for c in BASE_COLUMNS if c not in found]
        if lost:
            raise HistoryTableError(
                f"the history table {table} has no column {', '.join(lost)}: it was altered by hand and sqlmig cannot "
                "tell what has been applied. Restore the table from a backup (or re-create its rows), then run again."
            ) from None
        cur.execute(_select(table, found))
        state = "legacy"
    rows = tuple(Applied(*row) for row in cur)
    counts = Counter((r.name, r.track) for r in rows)
    twice = sorted(name for (name, _), n in counts.items() if n > 1)
    if twice:
        raise HistoryTableError(
            f"the history table {table} records {', '.join(twice)} more than once: it was edited by hand. Delete the "
            "duplicate rows (keep the oldest id), then run again.",
            twice,
        )
    return History(rows, state)


def _select(table: TableName, present: set[str]) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) if c in present else sql.SQL("NULL") for c in _READ_COLUMNS)
    return sql.SQL("SELECT {} FROM {} WHERE true{} ORDER BY id").format(columns, table.ident, _of(table))


def _of(table: TableName, alias: str = "") -> sql.Composable:
    """`` AND target = '…'`` for a fan-out target's history (the name quoted as a literal by psycopg), else
    nothing: every statement on a target's rows is limited to them."""
    if table.target is None:
        return sql.SQL("")
    column = sql.Identifier(alias, "target") if alias else sql.Identifier("target")
    return sql.SQL(" AND {} = {}").format(column, sql.Literal(table.target))


def _target_column(table: TableName) -> tuple[sql.Composable, sql.Composable]:
    """The column list and value to add to an INSERT of a target's row (nothing for the history table)."""
    if table.target is None:
        return sql.SQL(""), sql.SQL("")
    return sql.SQL(", target"), sql.SQL(", {}").format(sql.Literal(table.target))


def targets_behind(
    conn: psycopg.Connection[tuple[object, ...]],
    table: TableName,
    targets: Sequence[str],
    tracks: Sequence[str],
    files: Sequence[MigrationFile],
) -> list[str] | None:
    """The fan-out targets of ``targets`` (in their order) whose rows of ``tracks`` are not exactly ``files``, each
    completed with its current checksum: one with a missing, partial, extra, repeated or edited row, or none at all.
    One query, which returns nothing for an up-to-date fleet: the server matches each target's rows against the
    files' tracks, names and checksums. None when the targets' table does not exist yet. Read-only."""
    # Names go as one JSON document (a text[] parameter costs a Python object per element: 2.6 MB for 10,000).
    # Current: as many rows as files, and each file's own bit set by a row (a count of matching rows would take a
    # row there twice for a pending file; count(DISTINCT) would cost 2.5 times the query).
    query = sql.SQL(
        "WITH t AS MATERIALIZED"
        " (SELECT * FROM json_array_elements_text(%(targets)s::json) WITH ORDINALITY AS t(target, n)),"
        " f AS MATERIALIZED (SELECT type, name, checksum,"
        " set_bit(repeat('0', %(count)s)::varbit, n::int - 1, 1) AS bit FROM"
        " unnest(%(types)s::text[], %(names)s::text[], %(sums)s::text[]) WITH ORDINALITY AS f(type, name, checksum, n))"
        " SELECT t.target FROM t LEFT JOIN (SELECT h.target, count(*) AS rows, bit_or(f.bit) AS matched,"
        " bool_or(h.statements_done IS NOT NULL) AS partial"
        " FROM {} AS h LEFT JOIN f ON f.type = h.type AND f.name = h.name AND f.checksum = h.checksum"
        " WHERE h.target = ANY(ARRAY(SELECT target FROM t)) AND h.type = ANY(%(tracks)s) GROUP BY h.target) AS r"
        " ON r.target = t.target"
        " WHERE r.target IS NULL OR r.partial OR r.rows <> %(count)s"
        " OR r.matched IS DISTINCT FROM ~repeat('0', %(count)s)::varbit ORDER BY t.n"
    ).format(table.targets_table.ident)
    types, names, sums = [f.track for f in files], [f.name for f in files], [f.up.checksum for f in files]
    params: dict[str, object] = {"targets": json.dumps(list(targets)), "types": types, "names": names, "sums": sums}
    params |= {"tracks": list(tracks), "count": len(files)}
    try:
        cur = conn.cursor(row_factory=tuple_row).execute(query, params)
    except psycopg.errors.UndefinedTable:
        return None
    return [str(target) for (target,) in cur]


def read_targets(
    conn: psycopg.Connection[tuple[object, ...]], table: TableName, targets: Sequence[str]
) -> dict[str, tuple[Applied, ...]] | None:
    """The rows of every fan-out target in ``targets`` (see :meth:`TableName.for_target`) of history table
    ``table``, in one query: a target without rows maps to ``()``. None when the targets' table does not exist yet.
    Read-only."""
    query = sql.SQL("SELECT target, {} FROM {} WHERE target = ANY(%s) ORDER BY id").format(
        sql.SQL(", ").join(map(sql.Identifier, _READ_COLUMNS)), table.targets_table.ident
    )
    try:
        cur = conn.cursor(row_factory=tuple_row).execute(query, (list(targets),))
    except psycopg.errors.UndefinedTable:
        return None
    found: dict[str, list[Applied]] = {t: [] for t in targets}
    for row in cur:
        found[str(row[0])].append(Applied(*row[1:]))
    return {t: tuple(rows) for t, rows in found.items()}


def _columns(conn: psycopg.Connection[tuple[object, ...]], table: TableName) -> set[str]:
    query = "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
    cur = conn.cursor(row_factory=tuple_row).execute(query, (table.schema, table.name))
    return {str(row[0]) for row in cur}


def ensure(conn: psycopg.Connection[tuple[object, ...]], table: TableName, state: HistoryState) -> None:
    """Create the table, or add sqlmig's columns to a table written by the seed's runner. Writes; call it under
    the migration lock. Does nothing for a current table, so the common path takes no table lock."""
    if state == "current":
        return
    with conn.transaction():
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists, which an
        # application role that may only create tables in its schema lacks.
        if conn.execute("SELECT to_regnamespace(%s) IS NULL", (table.schema,)).fetchone() == (True,):
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(table.schema)))
        if table.target is None:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE,"
                    " type varchar(50) NOT NULL, executed_at timestamp NOT NULL DEFAULT now())"
                ).format(table.ident)
            )
        else:  # the fan-out targets' table: the same columns, and each row's target
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, target text NOT NULL,"
                    " name varchar(255) NOT NULL, type varchar(50) NOT NULL,"
                    " executed_at timestamp NOT NULL DEFAULT now(), UNIQUE (target, name))"
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
        " sqlmig_version, executed_at{}) VALUES (%s, %s, %s, %s, %s,"
        " coalesce(%s, (extract(epoch FROM clock_timestamp() - now()) * 1000)::integer),"
        " current_user, %s, now(){})"
    ).format(table.ident, *_target_column(table))


def record_params(file: MigrationFile, rendered_checksum: str | None, duration_ms: int | None) -> tuple[object, ...]:
    """Parameters of :func:`record_query` for ``file``."""
    return (file.name, file.track, file.version, file.up.checksum, rendered_checksum, duration_ms, __version__)


def progress_query(table: TableName) -> sql.Composed:
    """INSERT of the row of a ``no-transaction`` migration that completed some of its statements. Parameters:
    those of :func:`record_query`, then statements_done, resume_line, done_checksum. Run it in one transaction
    after the :func:`unrecord_query` of the same migration."""
    return sql.SQL(
        "INSERT INTO {} (name, type, version, checksum, rendered_checksum, duration_ms, executed_by,"
        " sqlmig_version, executed_at, statements_done, resume_line, done_checksum{}) VALUES (%s, %s, %s, %s, %s,"
        " %s, current_user, %s, now(), %s, %s, %s{})"
    ).format(table.ident, *_target_column(table))


def complete_query(table: TableName) -> sql.Composed:
    """UPDATE that turns a progress row into an ordinary history row. Parameters: checksum, rendered_checksum,
    duration_ms before this transaction (the time since it began is added), sqlmig version, name, type."""
    return sql.SQL(
        "UPDATE {} SET checksum = %s, rendered_checksum = %s, executed_at = now(), executed_by = current_user,"
        " duration_ms = %s + (extract(epoch FROM clock_timestamp() - now()) * 1000)::integer,"
        " statements_done = NULL, resume_line = NULL, done_checksum = NULL, sqlmig_version = %s"
        " WHERE name = %s AND type = %s{}"
    ).format(table.ident, _of(table))


def update_query(table: TableName) -> sql.Composed:
    """UPDATE of a progress row. Parameters: statements_done, resume_line, done_checksum, checksum, name, type."""
    return sql.SQL(
        "UPDATE {} SET statements_done = %s, resume_line = %s, done_checksum = %s, checksum = %s,"
        " executed_at = now() WHERE name = %s AND type = %s{}"
    ).format(table.ident, _of(table))


def unrecord_query(table: TableName) -> sql.Composed:
    """DELETE of one history row. Parameters: name, type."""
    return sql.SQL("DELETE FROM {} WHERE name = %s AND type = %s{}").format(table.ident, _of(table))


def forget_seeds_query(table: TableName) -> sql.Composed:
    """DELETE of the seed track's rows when the migrate track has none left: seeds are data in the tables that the
    migrations made, so once every migration is rolled back they are gone too, and the next ``seed up`` must run
    them again. No parameters. Run it after the :func:`unrecord_query` of a migration, in its transaction, so that
    the last migration's rollback and the seeds' forgetting commit together or not at all."""
    return sql.SQL(
        "DELETE FROM {0} WHERE type = 'seed'{1} AND NOT EXISTS (SELECT FROM {0} WHERE type = 'migrate'{1})"
    ).format(table.ident, _of(table))


def accept(conn: psycopg.Connection[tuple[object, ...]], table: TableName, files: list[MigrationFile]) -> int:
    """Store the current checksums of ``files`` as the applied ones. Writes; returns the number of rows changed."""
    query = sql.SQL(
        "UPDATE {} SET checksum = %s WHERE name = %s AND type = %s AND checksum IS DISTINCT FROM %s{}"
    ).format(table.ident, _of(table))
    changed = 0
    with conn.transaction():
        for f in files:
            cur = conn.execute(query, (f.up.checksum, f.name, f.track, f.up.checksum))
            changed += cur.rowcount
    return changed


def record_baseline(conn: psycopg.Connection[tuple[object, ...]], table: TableName, files: list[MigrationFile]) -> None:
    """Record ``files`` as applied without running them (``duration_ms`` 0, no rendered checksum), in one
    transaction. Writes."""
    with conn.transaction():
        for f in files:
            conn.execute(record_query(table), record_params(f, None, 0))
