"""What a file's earlier statements did that the safety rules on later ones depend on, kept in
:attr:`FileState.facts <sqlmig.lint.rules.FileState>` as ``(kind, schema, *names)``: a schema of None (a name
written without one) matches any. Pure.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterSubscriptionType, AlterTableType, ConstrType, ObjectType

from .rules import FileState

INDEX = "index"  # (INDEX, schema, index): an index the file created
COLUMN = "column"  # (COLUMN, schema, table, column): a column the file added to a table it did not create
NOT_VALID = "not-valid"  # (NOT_VALID, schema, table, constraint): a constraint the file added NOT VALID
VALIDATED = "validated"  # (VALIDATED, schema, table): the file validated a constraint of that table
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


def learn(stmt: Any, state: FileState) -> None:
    """Record in ``state.facts`` what ``stmt`` does that rules on later statements depend on (and in
    ``state.created`` the new name of a table the file created and renamed)."""
    if isinstance(stmt, ast.AlterEnumStmt) and stmt.newVal is not None and state.transactional:
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
        schema, table = stmt.relation.schemaname, stmt.relation.relname
        for cmd in stmt.cmds or ():
            if cmd.subtype not in _LIGHT and not _foreign_key(cmd):
                note(state, ALTERED, schema, table)
            if cmd.subtype == AlterTableType.AT_AddColumn:
                note(state, COLUMN, schema, table, cmd.def_.colname)
            elif cmd.subtype == AlterTableType.AT_ValidateConstraint:
                note(state, VALIDATED, schema, table)
            elif cmd.subtype == AlterTableType.AT_AddConstraint and cmd.def_.contype == ConstrType.CONSTR_CHECK:
                if cmd.def_.skip_validation and cmd.def_.conname:
                    note(state, NOT_VALID, schema, table, cmd.def_.conname)
                elif not cmd.def_.skip_validation:
                    note(state, VALIDATED, schema, table)
            elif _foreign_key(cmd) and cmd.def_.skip_validation and cmd.def_.conname:
                note(state, NOT_VALID, schema, table, cmd.def_.conname)


def _foreign_key(cmd: Any) -> bool:
    """Whether ``cmd`` adds a foreign key, whose lock (SHARE ROW EXCLUSIVE) lets reads go on."""
    constraint = cmd.def_ if cmd.subtype == AlterTableType.AT_AddConstraint else None
    return isinstance(constraint, ast.Constraint) and constraint.contype == ConstrType.CONSTR_FOREIGN
