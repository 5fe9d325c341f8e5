"""Object names in a parsed statement, for the linter's naming rules: which tables, views, sequences, indexes,
functions, types and domains a statement names, with the schema it gives them (or none), and which schemas it
names outright (``GRANT … ON SCHEMA``). Pure: works on pglast syntax trees, no files, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import GrantTargetType, ObjectType

from ..sqltree import walk

# Types of pg_catalog that the parser leaves unqualified (keyword types such as int, varchar or double precision
# come out as pg_catalog.int4 and so on), from pg_type, plus the serial pseudo-types of CREATE TABLE.
_BUILTIN_TYPE_WORDS = """
    bool bytea char name int8 int2 int2vector int4 regproc text oid tid xid cid oidvector json xml pg_node_tree
    pg_ndistinct pg_dependencies pg_mcv_list pg_ddl_command xid8 point lseg path box polygon line float4 float8
    unknown circle money macaddr inet cidr macaddr8 aclitem bpchar varchar date time timestamp timestamptz
    interval timetz bit varbit numeric refcursor regprocedure regoper regoperator regclass regcollation regtype
    regrole regnamespace uuid pg_lsn tsvector gtsvector tsquery regconfig regdictionary jsonb jsonpath
    txid_snapshot pg_snapshot int4range numrange tsrange tstzrange daterange int8range int4multirange
    nummultirange tsmultirange tstzmultirange datemultirange int8multirange record cstring any anyarray void
    trigger event_trigger language_handler internal anyelement anynonarray anyenum fdw_handler index_am_handler
    tsm_handler table_am_handler anyrange anycompatible anycompatiblearray anycompatiblenonarray
    anycompatiblerange anymultirange anycompatiblemultirange serial serial2 serial4 serial8 smallserial
    bigserial"""
BUILTIN_TYPES: frozenset[str] = frozenset(_BUILTIN_TYPE_WORDS.split())
# Trigger functions that PostgreSQL itself provides.
BUILTIN_TRIGGER_FUNCTIONS = frozenset({"suppress_redundant_updates_trigger", "tsvector_update_trigger"})

# What an object type is called in messages.
KINDS = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view",
    ObjectType.OBJECT_SEQUENCE: "sequence",
    ObjectType.OBJECT_INDEX: "index",
    ObjectType.OBJECT_FOREIGN_TABLE: "foreign table",
    ObjectType.OBJECT_TYPE: "type",
    ObjectType.OBJECT_DOMAIN: "domain",
    ObjectType.OBJECT_FUNCTION: "function",
    ObjectType.OBJECT_PROCEDURE: "procedure",
    ObjectType.OBJECT_ROUTINE: "routine",
    ObjectType.OBJECT_AGGREGATE: "aggregate",
    ObjectType.OBJECT_STATISTIC_EXT: "statistics object",
}
# Objects named as (schema, table, name): the table is what needs a schema.
_ON_TABLE = {
    ObjectType.OBJECT_TRIGGER,
    ObjectType.OBJECT_POLICY,
    ObjectType.OBJECT_RULE,
    ObjectType.OBJECT_COLUMN,
    ObjectType.OBJECT_TABCONSTRAINT,
}
_NO_NAMES = (
    ast.CreateCastStmt,
    ast.CreateOpClassStmt,
    ast.CreateOpFamilyStmt,
    ast.AlterOpFamilyStmt,
    ast.AlterOperatorStmt,
    ast.CreateTransformStmt,
)
# The nodes _statement_refs looks at.
_NAMING = (
    ast.CreateFunctionStmt,
    ast.CreateTrigStmt,
    ast.CreateEnumStmt,
    ast.CreateRangeStmt,
    ast.AlterEnumStmt,
    ast.CreateDomainStmt,
    ast.AlterDomainStmt,
    ast.DefineStmt,
    ast.DropStmt,
    ast.CommentStmt,
    ast.AlterOwnerStmt,
    ast.AlterObjectSchemaStmt,
    ast.RenameStmt,
    ast.GrantStmt,
    ast.AlterDefaultPrivilegesStmt,
    ast.CreateExtensionStmt,
)
_IGNORED_SCHEMAS = frozenset({"public", "information_schema"})


@dataclass(frozen=True)
class Ref:
    """An object a statement names: ``kind`` (``table``, ``function``, ``schema``…), its ``schema`` (None when
    the name has none), its ``name``, and ``location``, the 0-based offset of the name in the statement (-1 when
    the parser does not say)."""

    kind: str
    schema: str | None
    name: str
    location: int

    @property
    def shown(self) -> str:
        """The name as written, for messages."""
        return self.name if self.schema is None or self.kind == "schema" else f"{self.schema}.{self.name}"


def refs(stmt: Any, temp: Collection[str] = (), nodes: list[Any] | None = None) -> list[Ref]:
    """Every object ``stmt`` names, in the order found. Names that need no schema are left out: common table
    expressions, temporary tables (``temp`` lists those an earlier statement created), built-in types and
    trigger functions, function calls (a built-in cannot be told from the user's own without a database), and
    anything inside a function body given as a string. ``nodes`` is ``list(walk(stmt))``, when the caller has
    it."""
    if isinstance(stmt, _NO_NAMES):
        return []
    nodes = list(walk(stmt)) if nodes is None else nodes
    ctes = {n.ctename for n in nodes if isinstance(n, ast.CommonTableExpr)}
    kinds = _kinds(stmt)
    found: dict[Ref, None] = {}  # an ordered set: DROP FUNCTION f(t) holds the type of each argument twice
    for node in nodes:
        if isinstance(node, ast.RangeVar):
            if node.relpersistence != "t":
                parts = [node.schemaname, node.relname] if node.schemaname else [node.relname]
                found.update(dict.fromkeys(_ref(kinds.get(id(node), "table"), parts, node.location)))
        elif isinstance(node, ast.TypeName):
            found.update(dict.fromkeys(_type_ref(node, kinds.get(id(node), "type"))))
        elif isinstance(node, ast.ObjectWithArgs):
            found.update(dict.fromkeys(_parts(node.objname, kinds.get(id(node), "function"))))
        elif isinstance(node, _NAMING):
            found.update(dict.fromkeys(_statement_refs(node)))
    # A CTE or temporary table is named without a schema on purpose (DROP TABLE staging, FROM recent).
    return [ref for ref in found if ref.schema is not None or (ref.name not in ctes and ref.name not in temp)]


def schema_refs(found: list[Ref]) -> Iterator[Ref]:
    """The references among ``found`` that need their schema to exist, leaving out ``public``,
    ``information_schema`` and the system's own ``pg_*`` schemas (which every database has)."""
    for ref in found:
        if ref.schema and ref.schema not in _IGNORED_SCHEMAS and not ref.schema.startswith("pg_"):
            yield ref


def _type_ref(node: Any, kind: str) -> list[Ref]:
    names = [n.sval for n in node.names or () if isinstance(n, ast.String)]
    if node.pct_type or (len(names) == 1 and names[0] in BUILTIN_TYPES):
        return []
    return _ref(kind, names, node.location)


def _ref(kind: str, parts: list[str | None], location: int | None = -1) -> list[Ref]:
    """A reference from the parts of a dotted name (``[catalog.]schema.name`` or ``name``)."""
    if not parts or not parts[-1]:
        return []
    schema = parts[-2] if len(parts) > 1 else None
    return [Ref(kind, schema, parts[-1], -1 if location is None else location)]


def _schema_ref(name: str | None) -> list[Ref]:
    return [Ref("schema", name, name, -1)] if name else []


def _parts(names: Any, kind: str, location: int = -1) -> list[Ref]:
    """A reference from a dotted name given as a list of String nodes; nothing for operators (``+``)."""
    parts = [n.sval or "" for n in names or () if isinstance(n, ast.String)]
    if not parts or not (parts[-1][:1].isalpha() or parts[-1][:1] == "_"):
        return []
    return _ref(kind, list(parts), location)


def _object_ref(obj: Any, objtype: Any, drop: bool = False) -> list[Ref]:
    """The reference made by the ``object`` of COMMENT, ALTER … OWNER/RENAME/SET SCHEMA and DROP (a schema
    dropped is not a schema used)."""
    if objtype in _ON_TABLE and isinstance(obj, (tuple, list)):
        return _parts(obj[:-1], "table")
    if objtype in KINDS and isinstance(obj, (tuple, list)):
        return _parts(obj, KINDS[objtype])
    if objtype == ObjectType.OBJECT_SCHEMA and isinstance(obj, ast.String) and not drop:
        return _schema_ref(obj.sval)
    return []  # TypeName and ObjectWithArgs objects are found by the walk; other objects have no schema


def _statement_refs(node: Any) -> list[Ref]:
    """References held by statements as plain name lists rather than RangeVar/TypeName nodes."""
    if isinstance(node, ast.CreateFunctionStmt):
        return _parts(node.funcname, "procedure" if node.is_procedure else "function")
    if isinstance(node, ast.CreateTrigStmt):
        name = node.funcname[-1].sval if node.funcname else ""
        return [] if name in BUILTIN_TRIGGER_FUNCTIONS else _parts(node.funcname, "trigger function")
    if isinstance(node, (ast.CreateEnumStmt, ast.CreateRangeStmt, ast.AlterEnumStmt)):
        return _parts(node.typeName, "type")
    if isinstance(node, ast.CreateDomainStmt):
        return _parts(node.domainname, "domain")
    if isinstance(node, ast.AlterDomainStmt):
        return _parts(node.typeName, "domain")
    if isinstance(node, ast.DefineStmt) and node.kind in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_AGGREGATE):
        return _parts(node.defnames, KINDS[node.kind])
    if isinstance(node, ast.DropStmt):
        return [ref for obj in node.objects or () for ref in _object_ref(obj, node.removeType, drop=True)]
    if isinstance(node, ast.CommentStmt):
        return _object_ref(node.object, node.objtype)
    if isinstance(node, (ast.AlterOwnerStmt, ast.AlterObjectSchemaStmt)):
        found = _object_ref(node.object, node.objectType)
        new = getattr(node, "newschema", None)
        return found + _schema_ref(new)
    if isinstance(node, ast.RenameStmt):
        return _object_ref(node.object, node.renameType)
    if isinstance(node, ast.GrantStmt) and (
        node.objtype == ObjectType.OBJECT_SCHEMA or node.targtype == GrantTargetType.ACL_TARGET_ALL_IN_SCHEMA
    ):
        return [ref for s in node.objects or () if isinstance(s, ast.String) for ref in _schema_ref(s.sval)]
    if isinstance(node, (ast.AlterDefaultPrivilegesStmt, ast.CreateExtensionStmt)):
        return [
            ref
            for option in node.options or ()
            if isinstance(option, ast.DefElem) and option.defname in ("schema", "schemas")
            for s in (option.arg if isinstance(option.arg, (tuple, list)) else (option.arg,))
            if isinstance(s, ast.String)
            for ref in _schema_ref(s.sval)
        ]
    return []


def _kinds(stmt: Any) -> dict[int, str]:
    """What the RangeVar, TypeName and ObjectWithArgs nodes of ``stmt`` name, where it is not the default (a
    table, a type, a function), keyed by node identity."""
    kinds: dict[int, str] = {}
    if isinstance(stmt, (ast.CreateSeqStmt, ast.AlterSeqStmt)):
        kinds[id(stmt.sequence)] = "sequence"
    elif isinstance(stmt, ast.ViewStmt):
        kinds[id(stmt.view)] = "view"
    elif isinstance(stmt, ast.CreateTableAsStmt) and stmt.objtype == ObjectType.OBJECT_MATVIEW:
        kinds[id(stmt.into.rel if stmt.into is not None else None)] = "materialized view"
    elif isinstance(stmt, ast.CompositeTypeStmt):
        kinds[id(stmt.typevar)] = "type"
    elif isinstance(stmt, ast.RenameStmt):
        _relation_kind(kinds, stmt.relation, stmt.renameType)
    elif isinstance(stmt, ast.AlterObjectSchemaStmt):
        _relation_kind(kinds, stmt.relation, stmt.objectType)
    elif isinstance(stmt, ast.AlterTableStmt):
        _relation_kind(kinds, stmt.relation, stmt.objtype)
    elif isinstance(stmt, ast.DropStmt) and stmt.removeType in KINDS:
        for obj in stmt.objects or ():
            kinds[id(obj)] = KINDS[stmt.removeType]
    return kinds


def _relation_kind(kinds: dict[int, str], relation: Any, objtype: Any) -> None:
    if relation is not None and objtype in KINDS:
        kinds[id(relation)] = KINDS[objtype]
