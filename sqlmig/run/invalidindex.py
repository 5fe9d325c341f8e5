"""INVALID indexes left by a failed ``CREATE INDEX CONCURRENTLY`` in a ``no-transaction`` file.

Such an index would make the retry fail (or, with ``IF NOT EXISTS``, silently keep an index that is never used).
Before each such statement, an INVALID index of that name is dropped (``invalid_index = "drop"``, the default) or
reported (``"refuse"``).
"""

from __future__ import annotations

import logging

from pglast import ast, parse_sql
from pglast.parser import ParseError
from psycopg import sql
from psycopg.rows import tuple_row

from ..errors import PlanError
from ..model import Conn, InvalidIndexAction, Migration
from ..sqltext import Statement

log = logging.getLogger("sqlmig")

INVALID_INDEXES = """
SELECT n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND i.indrelid = to_regclass(%s) AND (%s::text IS NULL OR c.relname = %s)
"""


def drop_invalid_index(
    conn: Conn, migration: Migration, statement: Statement, line: int, action: InvalidIndexAction
) -> None:
    """Before a ``CREATE INDEX CONCURRENTLY``: drop an INVALID index an earlier try of it left (``action``
    ``"drop"``), or raise :class:`PlanError` saying how to drop it (``"refuse"``, or an unnamed index, whose
    leftover cannot be told apart from other invalid indexes of the table). Writes when it drops."""
    if "concurrently" not in statement.text.lower():
        return
    try:
        stmt = parse_sql(statement.text)[0].stmt
    except (ParseError, IndexError):
        return
    if not isinstance(stmt, ast.IndexStmt) or not stmt.concurrent or stmt.relation is None:
        return
    rel = stmt.relation
    table = sql.Identifier(*(p for p in (rel.schemaname, rel.relname) if p))
    cur = conn.cursor(row_factory=tuple_row)
    found = cur.execute(INVALID_INDEXES, (table.as_string(conn), stmt.idxname, stmt.idxname)).fetchall()
    if not found:
        return
    names = [str(shown) for _, _, shown in found]
    where = f"{migration.source.path}:{line}"
    if stmt.idxname is None or action != "drop":
        why = (
            "this CREATE INDEX CONCURRENTLY has no index name, so sqlmig cannot tell which one an earlier try left"
            if stmt.idxname is None
            else 'invalid_index is "refuse"'
        )
        raise PlanError(
            f"{where}: INVALID index(es) {', '.join(names)}, left by a failed CREATE INDEX "
            f"CONCURRENTLY ({why}). Drop them with DROP INDEX CONCURRENTLY <name>; then run again.",
            [migration.file.name],
        )
    for schema, name, shown in found:
        log.warning("%s: dropping INVALID index %s left by an earlier failed CREATE INDEX CONCURRENTLY", where, shown)
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))
