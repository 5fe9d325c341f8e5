"""Lint rules for tables that other sessions are using: statements that lock, scan or rewrite them
(``SQM401``, ``SQM403``-``SQM405``, ``SQM408``-``SQM411``, ``SQM414``, ``SQM415``, ``SQM420``) or change them
under the running application (``SQM412``, ``SQM413``). A table the same file creates is new, so nobody else uses
it yet: these rules leave it alone, and temporary tables too.

What later statements depend on comes from :mod:`sqlmig.lint.facts`. Pure: works on pglast syntax trees, no
files, no database.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from .facts import ALTERED, COLUMN, INDEX, NO_NULLS, NOT_VALID, STAND_IN, UNKNOWN, matching, note, noted
from .rewrite import fills_every_row, sql, type_rewrites
from .rules import FileState, Hit, shown

_NO_TRANSACTION = "in a file with '-- sqlmig: no-transaction' at its top"
# Column constraints that give a new NOT NULL column its values.
_FILLED = {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}


def index(stmt: Any, state: FileState) -> list[Hit]:
    """SQM401 for CREATE INDEX (without CONCURRENTLY) on a table the file does not create. ``ON ONLY`` is written
    for a partitioned table, where it builds nothing (an invalid index for the partitions' indexes to be attached
    to) and CONCURRENTLY is refused; on a plain table ONLY changes nothing and the index is built. So an index ON
    ONLY is reported only when an earlier migration created the table as a plain one (see
    :class:`~sqlmig.lint.ledger.TableLedger`)."""
    relation = stmt.relation
    if stmt.concurrent or state.is_new(relation) or relation.relpersistence == "t":
        return []
    only = not relation.inh
    plain = " (it is not partitioned, so ONLY changes nothing)" if only else ""
    return [
        Hit(
            "SQM401",
            f"CREATE INDEX on {'ONLY ' if only else ''}{shown(relation)}, which this file does not create, blocks "
            f"writes to that table until the index is built{plain}",
            "write CREATE INDEX CONCURRENTLY IF NOT EXISTS … in a file with '-- sqlmig: no-transaction' at its top; "
            "a partitioned table refuses CONCURRENTLY: index ON ONLY it, then each partition CONCURRENTLY, and ALTER "
            "INDEX … ATTACH PARTITION",
            relation.location,
            (relation.schemaname, relation.relname) if only else None,
        )
    ]


def drop_index(stmt: Any, state: FileState) -> list[Hit]:
    """SQM410 for DROP INDEX without CONCURRENTLY of indexes the file did not create."""
    names = [tuple(getattr(n, "sval", "") for n in name) for name in stmt.objects or ()]
    old = [".".join(n) for n in names if not noted(state, INDEX, n[-2] if len(n) > 1 else None, n[-1])]
    if stmt.concurrent or not old:
        return []
    return [
        Hit(
            "SQM410",
            f"DROP INDEX {', '.join(old)} locks the index's table against reads and writes until the transaction "
            "ends, and waits behind every query on it while queries that come after wait behind the DROP",
            f"write DROP INDEX CONCURRENTLY IF EXISTS … {_NO_TRANSACTION} (one index per statement)",
        )
    ]


def rename(stmt: Any, state: FileState) -> list[Hit]:
    """SQM412 for renaming a table, or a column of a table, that the file did not create."""
    relation = stmt.relation
    if relation is None or state.is_new(relation):
        return []
    if stmt.renameType == ObjectType.OBJECT_TABLE:
        what = f"table {shown(relation)}"
    elif stmt.renameType == ObjectType.OBJECT_COLUMN and stmt.relationType == ObjectType.OBJECT_TABLE:
        if noted(state, COLUMN, relation.schemaname, relation.relname, stmt.subname):
            return []
        what = f'column "{stmt.subname}" of {shown(relation)}'
    else:
        return []
    return [
        Hit(
            "SQM412",
            f'renaming {what} to "{stmt.newname}" breaks the application still running during the deploy: its '
            "queries use the old name",
            "add the new name beside the old one (a new column kept in step, or a view), move the application to "
            "it, and drop the old name in a later migration; if no running code uses the name, suppress this "
            "with that reason",
        )
    ]


def backfill(stmt: Any, state: FileState) -> list[Hit]:
    """SQM420 for an UPDATE or DELETE without WHERE of a table that ALTER TABLE locked earlier in the
    transaction."""
    relation = stmt.relation
    if not state.transactional or stmt.whereClause is not None or relation is None:
        return []
    if not noted(state, ALTERED, relation.schemaname, relation.relname):
        return []
    verb = "UPDATE" if isinstance(stmt, ast.UpdateStmt) else "DELETE"
    return [
        Hit(
            "SQM420",
            f"{verb} of every row of {shown(relation)} runs while this transaction holds the lock that ALTER TABLE "
            "took on it: reads and writes of the table wait until the whole file commits",
            "commit the ALTER first and fill the rows afterwards, in batches (… WHERE id BETWEEN …): in a seed, or "
            f"in a later migration {_NO_TRANSACTION}",
            relation.location,
        )
    ]


def alter(stmt: Any, state: FileState) -> list[Hit]:
    """The rules the commands of ALTER TABLE ``stmt`` break, on a table the file does not create."""
    relation = stmt.relation
    if stmt.objtype != ObjectType.OBJECT_TABLE or state.is_new(relation):
        return []
    # A later statement withdraws the SQM408 findings of this one whole: only one column's can wait on a drop.
    single = sum(cmd.subtype == AlterTableType.AT_SetNotNull for cmd in stmt.cmds or ()) == 1
    return [hit for cmd in stmt.cmds or () for hit in _command(cmd, relation, state, single)]


def _command(cmd: Any, relation: Any, state: FileState, single: bool) -> list[Hit]:
    table = shown(relation)
    kind = cmd.subtype
    if kind == AlterTableType.AT_AddColumn:
        return _add_column(cmd.def_, table)
    if kind == AlterTableType.AT_AlterColumnType and type_rewrites(cmd.name, cmd.def_):
        using = " USING …" if cmd.def_.raw_default is not None else ""
        return [
            Hit(
                "SQM404",
                f'ALTER COLUMN "{cmd.name}" TYPE {sql(cmd.def_.typeName)}{using} rewrites {table} and its indexes '
                "while it blocks reads and writes",
                "add a column of the new type, fill it in batches and switch to it; if the table is small, or the "
                "column has that type already, suppress this with that reason",
                getattr(cmd.def_, "location", -1),
            )
        ]
    if kind == AlterTableType.AT_SetNotNull:
        return _set_not_null(cmd.name, relation, state, single)
    if kind == AlterTableType.AT_DropColumn and state.up:
        if noted(state, COLUMN, relation.schemaname, relation.relname, cmd.name):
            return []
        return [
            Hit(
                "SQM413",
                f'DROP COLUMN "{cmd.name}" of {table} in an up migration: the application still running during the '
                "deploy may read or write it, and its data is gone",
                "first deploy application code that no longer uses the column, then drop it in a later migration "
                "and suppress this there with that reason",
            )
        ]
    validate = kind == AlterTableType.AT_ValidateConstraint and state.transactional
    if validate and noted(state, NOT_VALID, relation.schemaname, relation.relname, cmd.name):
        return [
            Hit(
                "SQM415",
                f"VALIDATE CONSTRAINT {cmd.name} runs in the transaction that added it NOT VALID: the lock "
                f"that ADD took, which blocks writes to {table}, is held while every row is checked",
                "validate it in a later migration: VALIDATE CONSTRAINT on its own lets reads and writes go on",
            )
        ]
    if kind == AlterTableType.AT_AddConstraint:
        return _add_constraint(cmd.def_, table)
    return []


def _set_not_null(column: str, relation: Any, state: FileState, single: bool) -> list[Hit]:
    """SQM408, unless a valid CHECK (column IS NOT NULL) of this file spares SET NOT NULL its scan. ``single``:
    the statement sets no other column NOT NULL."""
    schema, name = relation.schemaname, relation.relname
    if noted(state, NO_NULLS, schema, name, column):
        return []
    # A constraint validated here that another file added may be that check, added NOT VALID by an earlier
    # migration: when this file drops it after SET NOT NULL (where the check becomes redundant), it was one.
    for fact in matching(state, UNKNOWN, schema, name) if single else ():
        note(state, STAND_IN, schema, name, fact[3], str(state.statement))
    return [
        Hit(
            "SQM408",
            f'SET NOT NULL on "{column}" reads all of {shown(relation)} to check it while it blocks reads and writes',
            f'add CHECK ("{column}" IS NOT NULL) NOT VALID and commit; then VALIDATE CONSTRAINT it (which does not '
            "block writes), SET NOT NULL (which uses the valid check instead of reading the table) and drop the "
            f"check: in a later migration, or in this one {_NO_TRANSACTION}",
        )
    ]


def _add_column(column: Any, table: str) -> list[Hit]:
    name = column.colname
    hits = []
    types: dict[Any, Any] = {c.contype: c for c in column.constraints or () if isinstance(c, ast.Constraint)}
    required = bool(types.keys() & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY}) or column.is_not_null
    filling = fills_every_row(column)
    if required and not types.keys() & _FILLED and filling is None:
        hits.append(
            Hit(
                "SQM403",
                f'ADD COLUMN "{name}" NOT NULL without a DEFAULT fails if {table} has any rows',
                "give it a DEFAULT (a constant one does not rewrite the table), or add it without NOT NULL, fill "
                "it in, then ALTER COLUMN … SET NOT NULL",
                column.location,
            )
        )
    if filling is not None:
        hits.append(
            Hit(
                "SQM411",
                f'ADD COLUMN "{name}" with {filling} rewrites {table}, computing a value for every row, while it '
                "blocks reads and writes",
                "add the column without it (a constant DEFAULT, or none), fill the existing rows in batches, then "
                "ALTER COLUMN … SET DEFAULT for new rows",
                column.location,
            )
        )
    unique = [k for k in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE) if k in types]
    if unique:
        what = "PRIMARY KEY" if unique[0] == ConstrType.CONSTR_PRIMARY else "UNIQUE"
        hits.append(_unique(f'ADD COLUMN "{name}" … {what}', table, types[unique[0]].location))
    validating = _validating(column, types)
    if ConstrType.CONSTR_FOREIGN in types and validating is not None:
        target = shown(types[ConstrType.CONSTR_FOREIGN].pktable)
        hits.append(
            Hit(
                "SQM414",
                f'ADD COLUMN "{name}" … REFERENCES {target} with {validating} reads every row of {table} to '
                f"validate the foreign key while it blocks reads and writes of {table} (and writes to {target}): a "
                "column's REFERENCES has no NOT VALID form",
                f'add the column without REFERENCES, then ADD CONSTRAINT … FOREIGN KEY ("{name}") REFERENCES '
                f"{target} NOT VALID, and VALIDATE CONSTRAINT in a later migration; or add it without {validating}: "
                "a new column that is NULL in every row gets a valid foreign key without a row being read",
                types[ConstrType.CONSTR_FOREIGN].location,
            )
        )
    return hits


def _validating(column: Any, types: dict[Any, Any]) -> str | None:
    """What makes PostgreSQL validate the foreign key of a new column by reading every row: a DEFAULT (any, even
    NULL), a serial type's or a STORED generated column's value. None when the column starts NULL in every row:
    the key is then marked valid without a scan (measured on PostgreSQL 15 and 18; an identity column, too, is not
    checked, and rewrites the table: SQM411)."""
    if ConstrType.CONSTR_DEFAULT in types:
        return "a DEFAULT"
    generated = types.get(ConstrType.CONSTR_GENERATED)
    if generated is not None and generated.generated_kind != "v":
        return "GENERATED … STORED"
    kind = fills_every_row(column)
    return kind if kind is not None and kind.startswith("type ") else None


def _add_constraint(constraint: Any, table: str) -> list[Hit]:
    kinds = {ConstrType.CONSTR_FOREIGN: "FOREIGN KEY", ConstrType.CONSTR_CHECK: "CHECK"}
    if constraint.contype in kinds and not constraint.skip_validation:
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
    unique = {ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE"}
    if constraint.contype in unique and not constraint.indexname:
        return [_unique(f"ADD {unique[constraint.contype]}", table, constraint.location)]
    return []


def _unique(what: str, table: str, location: int) -> Hit:
    return Hit(
        "SQM409",
        f"{what} builds a unique index on {table} while it blocks reads and writes",
        f"build the index with CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS name … {_NO_TRANSACTION}, then "
        "ALTER TABLE … ADD CONSTRAINT name UNIQUE (or PRIMARY KEY) USING INDEX name",
        location,
    )
