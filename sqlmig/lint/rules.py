"""The lint rules: their codes and severities (:data:`RULES`), what a file's statements established for the
ones after them (:class:`FileState`), and the track rules.

Codes are grouped by family and never reused or renumbered: ``SQM0xx`` the files and their text (in
:mod:`sqlmig.lint.file`, :mod:`sqlmig.checks` and :mod:`sqlmig.lint.suppress`), ``SQM1xx`` names and schemas
(:mod:`sqlmig.lint.names`), ``SQM2xx`` tracks (here), ``SQM3xx`` idempotency (:mod:`sqlmig.lint.idempotent`),
``SQM4xx`` operations unsafe on live tables (:mod:`sqlmig.lint.safety`); :func:`sqlmig.lint.file.check` runs them on
each statement. Pure: works on pglast syntax trees, no files, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pglast import ast
from pglast.enums import ObjectType

from ..model import Track
from .names import KINDS, Ref

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A lint rule: its stable ``code``, its ``severity`` and a one-line ``summary``. Findings of rules that are
    not ``suppressible`` concern the file itself, which sqlmig would refuse to run, or the suppressions."""

    code: str
    severity: Severity
    summary: str
    suppressible: bool = True


RULES: Mapping[str, Rule] = MappingProxyType(
    {
        rule.code: rule
        for rule in (
            Rule("SQM001", "error", "SQL that PostgreSQL's parser rejects", suppressible=False),
            Rule(
                "SQM002",
                "error",
                "a template that cannot be rendered with the given schema and variables",
                suppressible=False,
            ),
            Rule(
                "SQM003",
                "error",
                "a psql meta-command (\\connect, \\i, \\set, \\gexec, …) or COPY … TO STDOUT, which need psql",
                suppressible=False,
            ),
            Rule("SQM004", "warning", "an .up.sql file without its .down.sql"),
            Rule(
                "SQM005",
                "error",
                "a file sqlmig cannot use (its name, pairing, directives or encoding)",
                suppressible=False,
            ),
            Rule(
                "SQM006",
                "warning",
                "a malformed lint suppression: no or unknown rule code, or no reason",
                suppressible=False,
            ),
            Rule("SQM007", "warning", "a lint suppression that suppresses nothing", suppressible=False),
            Rule(
                "SQM008",
                "error",
                "BEGIN, COMMIT, ROLLBACK or PREPARE TRANSACTION in a file that runs in a transaction",
                suppressible=False,
            ),
            Rule(
                "SQM009",
                "error",
                "DISCARD ALL or pg_advisory_unlock*(), which would release the migration lock",
                suppressible=False,
            ),
            Rule("SQM010", "warning", "a file with no SQL statements (empty, or only comments)"),
            Rule("SQM101", "error", "a table, view, sequence, index, function, type or domain named without schema"),
            Rule("SQM102", "error", "a schema used before a migration (in version order) creates it"),
            Rule("SQM201", "error", "a schema change (DDL) in the seed track"),
            Rule(
                "SQM202",
                "warning",
                "a data change (DML: INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM) in the migrate track",
            ),
            Rule(
                "SQM301",
                "error",
                "CREATE TABLE/INDEX/SCHEMA/SEQUENCE/EXTENSION/MATERIALIZED VIEW or ADD COLUMN without IF NOT EXISTS",
            ),
            Rule("SQM302", "error", "CREATE VIEW/FUNCTION/PROCEDURE/TRIGGER/RULE without OR REPLACE"),
            Rule("SQM303", "error", "DROP (also DROP COLUMN/CONSTRAINT) without IF EXISTS"),
            Rule("SQM304", "error", "INSERT without ON CONFLICT or WHERE NOT EXISTS"),
            Rule("SQM401", "warning", "CREATE INDEX without CONCURRENTLY on a table the file does not create"),
            Rule(
                "SQM402", "error", "CONCURRENTLY in a file that runs in a transaction (no '-- sqlmig: no-transaction')"
            ),
            Rule("SQM403", "error", "ADD COLUMN … NOT NULL without DEFAULT on a table the file does not create"),
            Rule("SQM404", "warning", "ALTER COLUMN … TYPE that rewrites a table the file does not create"),
            Rule("SQM405", "warning", "ADD FOREIGN KEY or CHECK without NOT VALID on a table the file does not create"),
            Rule("SQM406", "error", "VACUUM in a migration"),
            Rule("SQM407", "error", "ALTER SYSTEM in a migration"),
            Rule("SQM408", "warning", "ALTER COLUMN … SET NOT NULL on a table the file does not create"),
            Rule(
                "SQM409", "warning", "ADD UNIQUE or PRIMARY KEY (not USING INDEX) on a table the file does not create"
            ),
            Rule("SQM410", "warning", "DROP INDEX without CONCURRENTLY, of an index the file does not create"),
            Rule("SQM411", "warning", "ADD COLUMN that fills every row (volatile default, serial, identity, STORED)"),
            Rule("SQM412", "warning", "RENAME of a table or column that the file does not create"),
            Rule("SQM413", "warning", "DROP COLUMN in an .up.sql file, while the running application may read it"),
            Rule("SQM414", "warning", "ADD COLUMN … REFERENCES on a table the file does not create"),
            Rule("SQM415", "warning", "VALIDATE CONSTRAINT in the transaction that added it NOT VALID"),
            Rule("SQM416", "error", "an enum value used in the transaction that added it (ALTER TYPE … ADD VALUE)"),
            Rule("SQM417", "error", "a statement that cannot run in a transaction block, in a file that runs in one"),
            Rule("SQM418", "warning", "DDL on existing tables inside a DO block, which lint and reviewers cannot see"),
            Rule("SQM419", "error", "a SECURITY DEFINER function without SET search_path"),
            Rule("SQM420", "warning", "UPDATE or DELETE without WHERE of a table the transaction locked with ALTER"),
        )
    }
)


@dataclass(frozen=True)
class Hit:
    """A rule a statement breaks, before it is placed in a file: ``location`` is the 0-based offset in the
    statement of what is wrong, or -1 for the statement itself."""

    code: str
    message: str
    hint: str
    location: int = -1


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
    temp: set[str] = field(default_factory=set)
    dropped: set[tuple[str, ...]] = field(default_factory=set)  # (kind, *name) dropped with IF EXISTS

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
    rel = created_relation(stmt) if isinstance(stmt, (ast.CreateStmt, ast.CreateTableAsStmt)) else None
    if rel is None or rel.relname is None:
        return
    if rel.relpersistence == "t":
        state.temp.add(rel.relname)
    else:
        state.created.add((rel.schemaname, rel.relname))


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


def shown(relation: ast.RangeVar | None) -> str:
    """A RangeVar as written, for messages."""
    if relation is None:
        return ""
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else str(relation.relname)
