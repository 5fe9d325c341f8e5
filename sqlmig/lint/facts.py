"""What a file's earlier statements did that the safety rules on later ones depend on, kept in
:attr:`FileState.facts <sqlmig.lint.rules.FileState>` as ``(kind, schema, *names)``: a schema of None (a name
written without one) matches any. A finding that a later statement of the file makes untrue (an SQM419 function
given its search_path by ALTER FUNCTION, an SQM408 whose stand-in check is dropped) is noted with its statement's
index and withdrawn into :attr:`FileState.withdrawn <sqlmig.lint.rules.FileState>`, which the file's linting
leaves out. Functions (``DEFINER``, ``PINNED``) are learnt by :mod:`sqlmig.lint.definer`. Pure.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import (
    AlterSubscriptionType,
    AlterTableType,
    BoolExprType,
    ConstrType,
    NullTestType,
    ObjectType,
)

from .rules import FileState

INDEX = "index"  # (INDEX, schema, index): an index the file created
COLUMN = "column"  # (COLUMN, schema, table, column): a column the file added to a table it did not create
NOT_VALID = "not-valid"  # (NOT_VALID, schema, table, constraint): a constraint the file added NOT VALID
ADDED = "added"  # (ADDED, schema, table, constraint): a constraint the file added, of whatever kind
NULL_CHECK = "null-check"  # (NULL_CHECK, schema, table, constraint, column): CHECK (column IS NOT NULL) NOT VALID
NO_NULLS = "no-nulls"  # (NO_NULLS, schema, table, column): a valid CHECK (column IS NOT NULL) of this file
UNKNOWN = "unknown"  # (UNKNOWN, schema, table, constraint): validated here, added by another file (kind unknown)
STAND_IN = "stand-in"  # (STAND_IN, schema, table, constraint, statement): an SQM408 that the constraint's drop undoes
DEFINER = "definer"  # (DEFINER, schema, function, argument types, statement): CREATE or ALTER … SECURITY DEFINER
PINNED = "pinned"  # (PINNED, schema, function, argument types): a function this file gave its search_path
ALTERED = "altered"  # (ALTERED, schema, table): ALTER TABLE took an ACCESS EXCLUSIVE lock on it
ENUM = "enum"  # (ENUM, schema, type, value): a value the file added to an enum type in its transaction
SLOTLESS = "slotless"  # (SLOTLESS, None, subscription): ALTER SUBSCRIPTION … SET (slot_name = NONE)

# ALTER TABLE commands whose lock lets reads go on: the others take ACCESS EXCLUSIVE (SQM420).
_LIGHT = {
    AlterTableType.AT_ValidateConstraint,
    AlterTableType.AT_SetStatistics,
    AlterTableType.AT_SetOptions,
    AlterTableType.AT_ResetOptions,
    AlterTableType.AT_SetRelOptions,
    AlterTableType.AT_ResetRelOptions,
    AlterTableType.AT_ClusterOn,
    AlterTableType.AT_DropCluster,
    AlterTableType.AT_AttachPartition,
    AlterTableType.AT_DetachPartition,
}


def note(state: FileState, kind: str, schema: str | None, *names: str | None) -> None:
    """Record in ``state`` that an earlier statement did ``kind`` to the object ``schema.names``."""
    state.facts.add((kind, schema, *names))


def noted(state: FileState, kind: str, schema: str | None, *names: str | None) -> bool:
    """Whether an earlier statement did ``kind`` to ``schema.names`` (a missing schema on either side matches)."""
    return any(
        fact[0] == kind and fact[2:] == names and (fact[1] == schema or None in (fact[1], schema))
        for fact in state.facts
    )


def matching(state: FileState, kind: str, schema: str | None, *names: str | None) -> list[tuple[str | None, ...]]:
    """The facts of ``kind`` about ``schema.names`` and whatever follows them (``names`` is a prefix)."""
    size = len(names) + 2
    return [
        fact
        for fact in state.facts
        if fact[0] == kind and fact[2:size] == names and (fact[1] == schema or None in (fact[1], schema))
    ]


def withdraw(state: FileState, code: str, facts: list[tuple[str | None, ...]]) -> None:
    """Withdraw the findings of ``code`` that ``facts`` (ending with a statement's index) wait on, when they were
    made by an earlier statement: the statement that undoes them came after."""
    state.withdrawn.update((int(str(f[-1])), code) for f in facts if int(str(f[-1])) < state.statement)


def learn(stmt: Any, state: FileState) -> None:
    """Record in ``state.facts`` what ``stmt`` does that rules on later statements depend on (and in
    ``state.created`` the new name of a table the file created and renamed)."""
    if isinstance(stmt, ast.AlterEnumStmt) and stmt.newVal and stmt.oldVal is None and state.transactional:
        names = [n.sval for n in stmt.typeName or ()]
        note(state, ENUM, names[-2] if len(names) > 1 else None, names[-1], stmt.newVal)
    elif isinstance(stmt, ast.AlterSubscriptionStmt) and stmt.kind == AlterSubscriptionType.ALTER_SUBSCRIPTION_OPTIONS:
        slots = [o for o in stmt.options or () if o.defname == "slot_name"]
        if slots and getattr(slots[-1].arg, "sval", "").lower() == "none":
            note(state, SLOTLESS, None, stmt.subname)
    elif isinstance(stmt, ast.IndexStmt) and stmt.idxname and stmt.relation is not None:
        note(state, INDEX, stmt.relation.schemaname, stmt.idxname)
    elif isinstance(stmt, ast.RenameStmt) and stmt.renameType == ObjectType.OBJECT_TABLE:
        relation = stmt.relation
        if relation is not None and stmt.newname and (relation.schemaname, relation.relname) in state.created:
            state.created.add((relation.schemaname, stmt.newname))  # still new under its new name
    elif isinstance(stmt, ast.AlterTableStmt) and stmt.objtype == ObjectType.OBJECT_TABLE:
        if stmt.relation is None or state.is_new(stmt.relation):
            return
        for cmd in stmt.cmds or ():
            _learn_command(cmd, stmt.relation.schemaname, stmt.relation.relname, state)


def _learn_command(cmd: Any, schema: str | None, table: str | None, state: FileState) -> None:
    if cmd.subtype not in _LIGHT and not _foreign_key(cmd):
        note(state, ALTERED, schema, table)
    if cmd.subtype == AlterTableType.AT_AddColumn:
        note(state, COLUMN, schema, table, cmd.def_.colname)
    elif cmd.subtype == AlterTableType.AT_ValidateConstraint:
        checks = matching(state, NULL_CHECK, schema, table, cmd.name)
        for fact in checks:
            note(state, NO_NULLS, schema, table, fact[4])
        if not checks and not noted(state, ADDED, schema, table, cmd.name):
            note(state, UNKNOWN, schema, table, cmd.name)
    elif cmd.subtype == AlterTableType.AT_DropConstraint:
        withdraw(state, "SQM408", matching(state, STAND_IN, schema, table, cmd.name))
    elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
        constraint = cmd.def_
        if constraint.conname:
            note(state, ADDED, schema, table, constraint.conname)
        if constraint.skip_validation and constraint.conname:
            note(state, NOT_VALID, schema, table, constraint.conname)
        if constraint.contype == ConstrType.CONSTR_CHECK:
            for column in not_null_columns(constraint.raw_expr):
                if not constraint.skip_validation:
                    note(state, NO_NULLS, schema, table, column)
                elif constraint.conname:
                    note(state, NULL_CHECK, schema, table, constraint.conname, column)


def not_null_columns(expr: Any) -> list[str]:
    """The columns that a CHECK condition requires to be non-null: ``column IS NOT NULL``, alone or ANDed with
    other conditions. (A condition such as ``column > 0`` lets NULL through: a CHECK passes when it is NULL.)"""
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        return [column for arg in expr.args or () for column in not_null_columns(arg)]
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == NullTestType.IS_NOT_NULL:
        fields: Any = expr.arg.fields if isinstance(expr.arg, ast.ColumnRef) else ()
        name: Any = fields[-1].sval if len(fields) == 1 and isinstance(fields[-1], ast.String) else None
        return [name] if isinstance(name, str) else []
    return []


def _foreign_key(cmd: Any) -> bool:
    """Whether ``cmd`` adds a foreign key, whose lock (SHARE ROW EXCLUSIVE) lets reads go on."""
    constraint = cmd.def_ if cmd.subtype == AlterTableType.AT_AddConstraint else None
    return isinstance(constraint, ast.Constraint) and constraint.contype == ConstrType.CONSTR_FOREIGN
