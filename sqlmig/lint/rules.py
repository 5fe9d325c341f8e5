"""The lint rules: what a file's statements established for the ones after them (:class:`FileState`), and the
track rules; the table of codes and severities (:data:`RULES`) is in :mod:`sqlmig.lint.codes`.

Codes are grouped by family and never reused or renumbered: ``SQM0xx`` the files and their text (in
:mod:`sqlmig.lint.file`, :mod:`sqlmig.checks` and :mod:`sqlmig.lint.suppress`), ``SQM1xx`` names and schemas
(:mod:`sqlmig.lint.names`), ``SQM2xx`` tracks (here), ``SQM3xx`` idempotency (:mod:`sqlmig.lint.idempotent`),
``SQM4xx`` operations unsafe on live tables (:mod:`sqlmig.lint.safety`); :func:`sqlmig.lint.file.check` runs them on
each statement. Pure: works on pglast syntax trees, no files, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import ObjectType

from ..model import Track
from .codes import RULES as RULES
from .codes import Rule as Rule
from .codes import Severity as Severity
from .names import KINDS, Ref


@dataclass(frozen=True)
class Hit:
    """A rule a statement breaks, before it is placed in a file: ``location`` is the 0-based offset in the
    statement of what is wrong, or -1 for the statement itself."""

    code: str
    message: str
    hint: str
    location: int = -1
    # (schema, table) when the finding stands only if an earlier migration created that table as a plain one
    table: tuple[str | None, str] | None = None


@dataclass
class FileState:
    """What one file's earlier statements did that later rules depend on: the tables it created (as
    ``(schema, name)``) and the temporary tables it created (by name). ``transactional`` is False for a
    ``-- sqlmig: no-transaction`` file, ``up`` False for a ``.down.sql``; ``facts`` are what the safety rules
    noted about earlier statements, as ``(kind, schema, *names)`` (see :mod:`sqlmig.lint.live`)."""

    track: Track
    transactional: bool = True
    up: bool = True
    facts: set[tuple[str | None, ...]] = field(default_factory=set)
    created: set[tuple[str | None, str]] = field(default_factory=set)
    partitioned: set[tuple[str | None, str]] = field(default_factory=set)  # those of created that are so
    temp: set[str] = field(default_factory=set)
    dropped: set[tuple[str, ...]] = field(default_factory=set)  # (kind, *name) dropped with IF EXISTS
    statement: int = 0  # the index in the file of the statement being checked
    # (statement, code): findings that a later statement of the file made untrue (see facts.withdraw)
    withdrawn: set[tuple[int, str]] = field(default_factory=set)

    def is_new(self, relation: Any) -> bool:
        """Whether ``relation`` (a RangeVar) is a table this file created, so no one else uses it yet."""
        if relation is None:
            return False
        return temporary(relation, self) or (relation.schemaname, relation.relname) in self.created


def schema_created(stmt: Any) -> str | None:
    """The schema ``stmt`` creates, if it is CREATE SCHEMA with a name."""
    return stmt.schemaname if isinstance(stmt, ast.CreateSchemaStmt) else None


def unqualified(ref: Ref) -> Hit:
    """SQM101 for a name without its schema."""
    return Hit(
        "SQM101",
        f'{ref.kind} "{ref.name}" is not schema-qualified: what it means depends on the search_path of the session',
        f"write it with its schema: <schema>.{ref.name} (in a template, {{{{ schema | ident }}}}.{ref.name})",
        ref.location,
    )


_DDL_PREFIXES = ("Create", "Alter", "Drop", "Define", "Rename", "Comment", "Grant", "Reassign", "SecLabel", "Import")
_DDL_NAMES = {"ViewStmt", "IndexStmt", "RuleStmt", "CompositeTypeStmt"}
_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.TruncateStmt)
_LABELS = {
    "CreateStmt": "CREATE TABLE",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "ViewStmt": "CREATE VIEW",
    "IndexStmt": "CREATE INDEX",
    "AlterTableStmt": "ALTER TABLE",
    "CreateSchemaStmt": "CREATE SCHEMA",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "CreateFunctionStmt": "CREATE FUNCTION",
    "CreateTrigStmt": "CREATE TRIGGER",
    "CommentStmt": "COMMENT ON",
    "GrantStmt": "GRANT/REVOKE",
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
    "TruncateStmt": "TRUNCATE",
    "CopyStmt": "COPY … FROM",
    "CreateExtensionStmt": "CREATE EXTENSION",
    "CreateStatsStmt": "CREATE STATISTICS",
}


def label(stmt: Any) -> str:
    """What kind of statement ``stmt`` is, in SQL words, for messages."""
    name = type(stmt).__name__
    if isinstance(stmt, ast.DropStmt) and stmt.removeType is not None:
        kind = KINDS.get(stmt.removeType) or stmt.removeType.name.removeprefix("OBJECT_").replace("_", " ")
        return f"DROP {kind.upper()}"
    return _LABELS.get(name) or name.removesuffix("Stmt")


def track(stmt: Any, state: FileState, nodes: list[Any]) -> list[Hit]:
    """The ``SQM2xx`` rules ``stmt`` breaks: DDL in the seed track, DML in the migrate track. ``nodes`` are those
    of the statement's tree (see :func:`~sqlmig.sqltree.walk`)."""
    # Scratch objects (temporary tables) are neither schema nor data; SET, SELECT set_config(…), DO, CALL,
    # ANALYZE and the like are neither either: both tracks may use them.
    name = type(stmt).__name__
    ddl = name != "AlterSystemStmt" and (name.startswith(_DDL_PREFIXES) or name in _DDL_NAMES)
    if state.track == "seed" and ddl and not scratch(stmt, state):
        return [
            Hit(
                "SQM201",
                f"{label(stmt)} changes the schema (DDL) in the seed track, which holds data only",
                "move it to a migration (sqlmig new --type migrate): migrations run before seeds, in their own order",
            )
        ]
    dml = bool(stmt.is_from) if isinstance(stmt, ast.CopyStmt) else any(isinstance(n, _DML) for n in nodes)
    if state.track == "migrate" and dml and not ddl:
        return [
            Hit(
                "SQM202",
                f"{label(stmt)} changes data (DML) in the migrate track, which holds schema changes",
                "move it to a seed (sqlmig new --type seed); a backfill that must run with this schema change can "
                "stay, with '-- sqlmig-lint: ignore SQM202 -- why' above it",
            )
        ]
    return []


def scratch(stmt: Any, state: FileState) -> bool:
    """Whether ``stmt`` only creates, indexes or drops temporary tables."""
    relation = created_relation(stmt)
    if relation is not None:
        return relation.relpersistence == "t" or (isinstance(stmt, ast.IndexStmt) and temporary(relation, state))
    if isinstance(stmt, ast.DropStmt) and stmt.removeType == ObjectType.OBJECT_TABLE:
        names = [[n.sval for n in obj] for obj in stmt.objects or ()]
        return all(len(n) == 1 and n[0] in state.temp for n in names)
    return False


def temporary(relation: ast.RangeVar | None, state: FileState) -> bool:
    """Whether ``relation`` names a temporary table that its file created."""
    return relation is not None and relation.schemaname in (None, "pg_temp") and relation.relname in state.temp


def remember(stmt: Any, state: FileState) -> None:
    """Record in ``state`` the table ``stmt`` creates, if any, and the views and triggers it drops with IF
    EXISTS (``DROP … IF EXISTS`` then ``CREATE`` is safe to run twice, and the only way before CREATE OR REPLACE
    TRIGGER in PostgreSQL 14)."""
    if isinstance(stmt, ast.DropStmt) and stmt.missing_ok and stmt.removeType in _RECREATED:
        kind = _RECREATED[stmt.removeType]
        state.dropped.update((kind, *(getattr(n, "sval", "") for n in name)) for name in stmt.objects or ())
    rel = created_relation(stmt) if isinstance(stmt, (ast.CreateStmt, ast.CreateTableAsStmt)) else selected_into(stmt)
    if rel is None or rel.relname is None:
        return
    if rel.relpersistence == "t":
        state.temp.add(rel.relname)
    else:
        state.created.add((rel.schemaname, rel.relname))
        if isinstance(stmt, ast.CreateStmt) and stmt.partspec is not None:
            state.partitioned.add((rel.schemaname, rel.relname))
        else:  # dropped and created again as a plain table
            state.partitioned.discard((rel.schemaname, rel.relname))


_RECREATED = {ObjectType.OBJECT_VIEW: "VIEW", ObjectType.OBJECT_TRIGGER: "TRIGGER"}


def recreated(stmt: Any, state: FileState) -> bool:
    """Whether ``stmt`` creates a view or trigger that the file dropped with IF EXISTS before, by the same name."""
    if isinstance(stmt, ast.ViewStmt) and stmt.view is not None:
        names = [n for n in (stmt.view.schemaname, stmt.view.relname) if n]
        return ("VIEW", *names) in state.dropped
    if isinstance(stmt, ast.CreateTrigStmt) and stmt.relation is not None:
        names = [n for n in (stmt.relation.schemaname, stmt.relation.relname, stmt.trigname) if n]
        return ("TRIGGER", *names) in state.dropped
    return False


def created_relation(stmt: Any) -> ast.RangeVar | None:
    """The table, view or sequence that a CREATE statement makes (for CREATE INDEX: the table it indexes)."""
    if isinstance(stmt, ast.CreateTableAsStmt):
        return stmt.into.rel if stmt.into is not None else None
    if isinstance(stmt, ast.CreateSeqStmt):
        return stmt.sequence
    if isinstance(stmt, ast.ViewStmt):
        return stmt.view
    return stmt.relation if isinstance(stmt, (ast.CreateStmt, ast.IndexStmt)) else None


def selected_into(stmt: Any) -> ast.RangeVar | None:
    """The table that ``SELECT … INTO table`` creates (CREATE TABLE AS in older words), if ``stmt`` is one. In a
    UNION, INTERSECT or EXCEPT the INTO belongs to the first SELECT."""
    while isinstance(stmt, ast.SelectStmt):
        if stmt.intoClause is not None:
            return stmt.intoClause.rel
        stmt = stmt.larg
    return None


def shown(relation: ast.RangeVar | None) -> str:
    """A RangeVar as written, for messages."""
    if relation is None:
        return ""
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else str(relation.relname)
