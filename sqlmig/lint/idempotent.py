"""Lint rules ``SQM3xx``: statements that fail, or do their work a second time, when they run twice (after a
history table was lost, or when a ``no-transaction`` file is resumed or rolled back part-way). Pure: works on
pglast syntax trees, no files, no database.

Statements that PostgreSQL gives no idempotent form (CREATE TYPE, CREATE DOMAIN, CREATE POLICY, COPY … FROM) are
left alone: there would be nothing better to write.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, BoolExprType, ObjectType, SubLinkType

from ..sqltree import walk
from .rules import FileState, Hit, created_relation, label, recreated, scratch, shown, temporary

_CREATES = (
    ast.CreateStmt,
    ast.CreateSchemaStmt,
    ast.CreateSeqStmt,
    ast.CreateExtensionStmt,
    ast.CreateTableAsStmt,
    ast.CreateStatsStmt,
)


def idempotency(stmt: Any, state: FileState, nodes: list[Any]) -> list[Hit]:
    """The ``SQM3xx`` rules ``stmt`` breaks: statements that fail, or do their work again, when run twice.
    ``nodes`` are those of the statement's tree (see :func:`~sqlmig.sqltree.walk`)."""
    if scratch(stmt, state):
        return []
    what = label(stmt)
    if isinstance(stmt, ast.IndexStmt) and not stmt.if_not_exists:
        if stmt.idxname is None:
            hint = "name the index, so that it can have IF NOT EXISTS: CREATE INDEX IF NOT EXISTS name ON …"
            return [Hit("SQM301", "CREATE INDEX without a name cannot be made safe to run twice", hint)]
        return [_not_exists(what, stmt.idxname, "CREATE INDEX IF NOT EXISTS")]
    if isinstance(stmt, _CREATES) and not stmt.if_not_exists:
        if isinstance(stmt, ast.CreateTableAsStmt) and stmt.objtype == ObjectType.OBJECT_MATVIEW:
            what = "CREATE MATERIALIZED VIEW"
        return [_not_exists(what, _created_name(stmt), what.replace(" AS", "") + " IF NOT EXISTS")]
    if (kind := _replaceable(stmt)) and not stmt.replace and not recreated(stmt, state):
        return [
            Hit(
                "SQM302",
                f"CREATE {kind} without OR REPLACE fails when it exists",
                f"write CREATE OR REPLACE {kind}",
            )
        ]
    if isinstance(stmt, ast.DropStmt) and not stmt.missing_ok:
        return [Hit("SQM303", f"{what} without IF EXISTS fails when it is already gone", f"write {what} IF EXISTS")]
    hits = [_alter_idempotency(cmd) for cmd in stmt.cmds or ()] if isinstance(stmt, ast.AlterTableStmt) else []
    if not isinstance(stmt, (ast.CreateFunctionStmt, ast.RuleStmt)):  # their INSERTs run later, not now
        hits += [_insert(node, state) for node in nodes if isinstance(node, ast.InsertStmt)]
    return [hit for hit in hits if hit is not None]


def _replaceable(stmt: Any) -> str | None:
    """What ``stmt`` creates if CREATE OR REPLACE exists for it (not for temporary views or constraint triggers)."""
    if isinstance(stmt, ast.ViewStmt):
        return "VIEW"
    if isinstance(stmt, ast.CreateFunctionStmt):
        return "PROCEDURE" if stmt.is_procedure else "FUNCTION"
    if isinstance(stmt, ast.CreateTrigStmt) and not stmt.isconstraint:
        return "TRIGGER"
    return "RULE" if isinstance(stmt, ast.RuleStmt) else None


def _not_exists(what: str, name: str, instead: str) -> Hit:
    return Hit("SQM301", f"{what} {name} without IF NOT EXISTS fails when it exists", f"write {instead} {name}")


def _created_name(stmt: Any) -> str:
    if isinstance(stmt, ast.CreateSchemaStmt):
        return str(stmt.schemaname or "")
    if isinstance(stmt, ast.CreateExtensionStmt):
        return str(stmt.extname)
    if isinstance(stmt, ast.CreateStatsStmt):
        return ".".join(n.sval or "" for n in stmt.defnames or () if isinstance(n, ast.String))
    return shown(created_relation(stmt))


def _alter_idempotency(cmd: Any) -> Hit | None:
    if cmd.missing_ok:
        return None
    if cmd.subtype == AlterTableType.AT_AddColumn:
        column = cmd.def_.colname
        return Hit(
            "SQM301",
            f'ADD COLUMN "{column}" without IF NOT EXISTS fails when the column exists',
            f"write ADD COLUMN IF NOT EXISTS {column} …",
            cmd.def_.location,
        )
    if cmd.subtype in (AlterTableType.AT_DropColumn, AlterTableType.AT_DropConstraint):
        what = "COLUMN" if cmd.subtype == AlterTableType.AT_DropColumn else "CONSTRAINT"
        return Hit(
            "SQM303",
            f'DROP {what} "{cmd.name}" without IF EXISTS fails when it is already gone',
            f"write DROP {what} IF EXISTS {cmd.name}",
        )
    return None


def _insert(stmt: ast.InsertStmt, state: FileState) -> Hit | None:
    rel = stmt.relation
    if rel is None:
        return None
    if stmt.onConflictClause is not None or rel.relpersistence == "t" or temporary(rel, state):
        return None
    # INSERT … SELECT … WHERE NOT EXISTS (…) inserts only the missing rows: as safe to repeat as ON CONFLICT.
    if _not_exists_guard(getattr(stmt.selectStmt, "whereClause", None)):
        return None
    return Hit(
        "SQM304",
        f"INSERT INTO {shown(rel)} without ON CONFLICT adds its rows again (or fails) when run twice",
        "add ON CONFLICT (key) DO NOTHING (or DO UPDATE SET …), or insert only the missing rows with "
        "INSERT … SELECT … WHERE NOT EXISTS (…)",
        -1 if rel.location is None else rel.location,
    )


def _not_exists_guard(where: Any) -> bool:
    return any(
        isinstance(n, ast.BoolExpr)
        and n.boolop == BoolExprType.NOT_EXPR
        and any(isinstance(a, ast.SubLink) and a.subLinkType == SubLinkType.EXISTS_SUBLINK for a in n.args or ())
        for n in walk(where)
    )
