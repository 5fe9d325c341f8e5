"""Lint rules ``SQM4xx``: operations that fail in a transaction, or that lock or rewrite a table other sessions
are using. A table the same file creates is new, so nobody else uses it yet: those rules leave it alone.
Pure: works on pglast syntax trees, no files, no database.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from .rules import FileState, Hit, shown

_NO_TRANSACTION_HINT = (
    "add '-- sqlmig: no-transaction' at the top of the file, so that it runs statement by statement; keep its "
    "statements safe to repeat (IF NOT EXISTS), since a failure leaves the ones before it applied"
)
# Column constraints that give a new NOT NULL column its values.
_FILLED = {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}


def safety(stmt: Any, state: FileState) -> list[Hit]:
    """The ``SQM4xx`` rules ``stmt`` breaks, given what its file did before it (``state``)."""
    if isinstance(stmt, ast.IndexStmt):
        return _index(stmt, state)
    if isinstance(stmt, ast.DropStmt) and stmt.concurrent:
        return _in_transaction("DROP INDEX CONCURRENTLY", state)
    if isinstance(stmt, ast.ReindexStmt) and any(_concurrently(p) for p in stmt.params or ()):
        return _in_transaction("REINDEX CONCURRENTLY", state)
    if isinstance(stmt, ast.AlterTableStmt):
        new = state.is_new(stmt.relation)
        return [hit for cmd in stmt.cmds or () for hit in _alter(cmd, stmt.relation, new, state)]
    if isinstance(stmt, ast.VacuumStmt) and stmt.is_vacuumcmd:
        return [
            Hit(
                "SQM406",
                "VACUUM is maintenance, not a schema change, and cannot run inside a transaction",
                "leave it to autovacuum or a maintenance job; to refresh the statistics after a backfill, ANALYZE "
                "(which may run in a migration) is enough",
            )
        ]
    if isinstance(stmt, ast.AlterSystemStmt):
        return [
            Hit(
                "SQM407",
                "ALTER SYSTEM changes the server's configuration for every database, and cannot run inside a "
                "transaction",
                "configure the server outside migrations (postgresql.conf, your provider's settings); for this "
                "database use ALTER DATABASE … SET, for a role ALTER ROLE … SET",
            )
        ]
    return []


def _concurrently(option: Any) -> bool:
    """Whether a REINDEX option is CONCURRENTLY, switched on (a bare option, or true/on/1)."""
    if not isinstance(option, ast.DefElem) or option.defname != "concurrently":
        return False
    value = getattr(option.arg, "sval", None) or getattr(option.arg, "ival", None)
    return option.arg is None or str(value).lower() not in ("false", "off", "0", "no")


def _in_transaction(what: str, state: FileState) -> list[Hit]:
    if not state.transactional:
        return []
    return [Hit("SQM402", f"{what} cannot run inside a transaction, and this file runs in one", _NO_TRANSACTION_HINT)]


def _index(stmt: Any, state: FileState) -> list[Hit]:
    if stmt.concurrent:
        return _in_transaction("CREATE INDEX CONCURRENTLY", state)
    if state.is_new(stmt.relation) or stmt.relation.relpersistence == "t":
        return []
    return [
        Hit(
            "SQM401",
            f"CREATE INDEX on {shown(stmt.relation)}, which this file does not create, blocks writes to that table "
            "until the index is built",
            "write CREATE INDEX CONCURRENTLY IF NOT EXISTS … in a file with '-- sqlmig: no-transaction' at its top",
            stmt.relation.location,
        )
    ]


def _alter(cmd: Any, relation: Any, new: bool, state: FileState) -> list[Hit]:
    if cmd.subtype == AlterTableType.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
        return _in_transaction("DETACH PARTITION … CONCURRENTLY", state)
    if new:
        return []
    table = shown(relation)
    if cmd.subtype == AlterTableType.AT_AddColumn and _not_null_unfilled(cmd.def_):
        return [
            Hit(
                "SQM403",
                f'ADD COLUMN "{cmd.def_.colname}" NOT NULL without a DEFAULT fails if {table} has any rows',
                "give it a DEFAULT (a constant one does not rewrite the table), or add it without NOT NULL, fill "
                "it in, then ALTER COLUMN … SET NOT NULL",
                cmd.def_.location,
            )
        ]
    if cmd.subtype == AlterTableType.AT_AlterColumnType:
        return [
            Hit(
                "SQM404",
                f'ALTER COLUMN "{cmd.name}" TYPE rewrites {table} and its indexes while it blocks reads and writes '
                "(unless the types are binary compatible, such as varchar(n) to text)",
                "add a column of the new type, fill it in batches and switch to it; if the table is small or the "
                "change binary compatible, suppress this with a reason",
                getattr(cmd.def_, "location", -1),
            )
        ]
    constraint = cmd.def_ if cmd.subtype == AlterTableType.AT_AddConstraint else None
    kinds = {ConstrType.CONSTR_FOREIGN: "FOREIGN KEY", ConstrType.CONSTR_CHECK: "CHECK"}
    if constraint is not None and constraint.contype in kinds and not constraint.skip_validation:
        what = kinds[constraint.contype]
        return [
            Hit(
                "SQM405",
                f"ADD {what} checks every row of {table} while it blocks writes to it",
                f"add it with NOT VALID, then run ALTER TABLE {table} VALIDATE CONSTRAINT name in a later "
                "migration: validating does not block writes",
                constraint.location,
            )
        ]
    return []


def _not_null_unfilled(column: Any) -> bool:
    types = {c.contype for c in column.constraints or () if isinstance(c, ast.Constraint)}
    required = bool(types & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY}) or bool(column.is_not_null)
    return required and not types & _FILLED
