"""Lint rules for maintenance commands in a migration that lock a view, table or index others are reading:
``REFRESH MATERIALIZED VIEW`` (``SQM421``), ``CLUSTER`` of a table (``SQM422``) and ``REINDEX`` of a table or
index (``SQM423``), each without the form that lets reads (and writes) go on. Objects the same file creates are
new, so nobody else uses them yet: these rules leave them alone. Pure: works on pglast syntax trees, no files, no
database.
"""

from __future__ import annotations

from typing import Any

from pglast.enums import ReindexObjectType

from .facts import INDEX, noted
from .rules import FileState, Hit, shown

_NO_TRANSACTION = "in a file with '-- sqlmig: no-transaction' at its top"


def refresh(stmt: Any, state: FileState) -> list[Hit]:
    """SQM421 for REFRESH MATERIALIZED VIEW without CONCURRENTLY of a view the file did not create. (WITH NO
    DATA empties the view at once and is not reported.)"""
    if stmt.concurrent or stmt.skipData or state.is_new(stmt.relation):
        return []
    view = shown(stmt.relation)
    return [
        Hit(
            "SQM421",
            f"REFRESH MATERIALIZED VIEW {view} runs the view's query again while it blocks every read of {view}, "
            "until the transaction ends",
            "write REFRESH MATERIALIZED VIEW CONCURRENTLY (reads go on; the view needs a unique index on plain "
            "columns), or refresh it from a scheduled job rather than a migration",
            stmt.relation.location,
        )
    ]


def cluster(stmt: Any, state: FileState) -> list[Hit]:
    """SQM422 for CLUSTER of a named table that the file did not create (CLUSTER of every table is SQM417)."""
    if stmt.relation is None or state.is_new(stmt.relation):
        return []
    table = shown(stmt.relation)
    return [
        Hit(
            "SQM422",
            f"CLUSTER {table} rewrites the table and every index of it in index order while it blocks reads and "
            "writes of the table",
            "leave the physical order to a maintenance window or to pg_repack (which holds its lock only at the "
            "end); ALTER TABLE … CLUSTER ON index only records the index for a later CLUSTER, without a rewrite",
            stmt.relation.location,
        )
    ]


def reindex(stmt: Any, state: FileState) -> list[Hit]:
    """SQM423 for REINDEX TABLE or INDEX without CONCURRENTLY of an object the file did not create (the caller
    has handled CONCURRENTLY)."""
    relation: Any = stmt.relation
    if relation is None:
        return []
    if stmt.kind == ReindexObjectType.REINDEX_OBJECT_TABLE and not state.is_new(relation):
        kind, blocked = "TABLE", "writes to the table, and reads that use one of its indexes, until they are"
    elif stmt.kind == ReindexObjectType.REINDEX_OBJECT_INDEX and not noted(
        state, INDEX, relation.schemaname, relation.relname
    ):
        kind, blocked = "INDEX", "writes to its table, and reads that use the index, until it is"
    else:
        return []
    return [
        Hit(
            "SQM423",
            f"REINDEX {kind} {shown(relation)} blocks {blocked} rebuilt",
            f"write REINDEX {kind} CONCURRENTLY … {_NO_TRANSACTION} (PostgreSQL 12 and later): it builds the new "
            "index beside the old one and swaps them",
            relation.location,
        )
    ]
