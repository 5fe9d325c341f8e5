"""Which column changes make PostgreSQL rewrite a whole table (rules SQM404 and SQM411), from the syntax tree
alone: lint has no database, so it does not know a column's current type.

What rewrites was measured on PostgreSQL (the table's relfilenode before and after): a change of type to
``varchar(n)``, ``text``, ``numeric(p, s)``, ``varbit``, ``inet``, ``citext``, a time type or ``interval``
rewrites nothing when it only widens a length or precision or lifts it (``varchar(10)`` → ``varchar(20)`` or
``text``, ``numeric(10, 2)`` → ``numeric(12, 2)``, ``timestamp(3)`` → ``timestamp``), or goes between binary
compatible types (``text`` ↔ ``varchar``, ``citext``, ``cidr`` → ``inet``, ``timestamp`` → ``timestamptz`` in a
session whose TimeZone is UTC). Not knowing the old type, lint leaves those targets alone unless a ``USING``
clause computes the value: precision over recall. Every other target (``bigint``, ``jsonb``, an enum, an array,
``char(n)``, …) rewrites the table unless the column has that type already. Pure.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import ConstrType
from pglast.stream import RawStream

from ..sqltree import walk

# Targets that some old type reaches without a rewrite (see the module's docstring).
_WIDENED = {
    "text",
    "varchar",
    "numeric",
    "varbit",
    "inet",
    "citext",
    "timestamp",
    "timestamptz",
    "time",
    "timetz",
    "interval",
}
# Functions PostgreSQL marks volatile that migrations use as defaults: the default is computed again for each
# existing row, so ADD COLUMN rewrites the table (a stable one such as now() is computed once and stored).
_VOLATILE = {
    "random",
    "random_normal",
    "gen_random_uuid",
    "gen_random_bytes",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
}
_SERIAL = {"smallserial", "serial", "bigserial", "serial2", "serial4", "serial8"}


def sql(node: Any) -> str:
    """``node`` written back as SQL, for messages."""
    return str(RawStream()(node))


def type_rewrites(column: str, definition: Any) -> bool:
    """Whether ``ALTER COLUMN column TYPE …`` with ``definition`` (its ColumnDef: the type, and the USING
    expression as ``raw_default``) rewrites the table whatever the column's current type is (see above)."""
    using = definition.raw_default
    if using is not None and not _just_the_column(using, column):
        return True
    name = definition.typeName
    return bool(name.arrayBounds) or name.names[-1].sval not in _WIDENED


def _just_the_column(expr: Any, column: str) -> bool:
    """Whether ``expr`` is the column itself, possibly cast (``USING title::text``): the cast the type change
    makes anyway."""
    while isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return isinstance(expr, ast.ColumnRef) and getattr((expr.fields or (None,))[-1], "sval", None) == column


def fills_every_row(definition: Any) -> str | None:
    """What makes ``ADD COLUMN definition`` compute a value for each existing row, so that it rewrites the table
    (a serial type, an identity, a STORED generated column, a volatile default), or None."""
    kind = definition.typeName.names[-1].sval if definition.typeName is not None else ""
    if kind in _SERIAL and len(definition.typeName.names) == 1:
        return f"type {kind} (a default of nextval())"
    for constraint in definition.constraints or ():
        if constraint.contype == ConstrType.CONSTR_IDENTITY:
            return "GENERATED … AS IDENTITY"
        if constraint.contype == ConstrType.CONSTR_GENERATED and constraint.generated_kind != "v":
            return "GENERATED ALWAYS AS (…) STORED"
        if constraint.contype == ConstrType.CONSTR_DEFAULT and constraint.raw_expr is not None:
            for node in walk(constraint.raw_expr):
                name = getattr((node.funcname or (None,))[-1], "sval", None) if isinstance(node, ast.FuncCall) else None
                if name in _VOLATILE:
                    return f"the volatile default {name}()"
    return None
