"""Lint rule ``SQM418``: DDL on existing tables inside a ``DO`` block, where lint's other rules, verify's reader
and a reviewer see only the block.

The block's body is parsed with PostgreSQL's PL/pgSQL parser (pglast's ``parse_plpgsql``); its static SQL
statements, ``EXECUTE`` of a string constant and ``EXECUTE format('…', …)`` with a constant format string are
parsed again as SQL. In a format string, ``%I`` and ``%s`` stand for a name and become the dummy identifier
``sqlmig_arg`` (an object the file did not create), ``%L`` the string literal ``'sqlmig_arg'`` and ``%%`` a
``%``; a format string that is not SQL once so replaced (``%s`` standing for a column's definition, say) is not
read. Reported: ``ALTER TABLE``, ``CREATE INDEX``, ``DROP`` of a table, index, view, materialized view or
sequence, and renames, on objects the file did not create. Not reported: ``EXECUTE`` of a string computed
otherwise (``'ALTER TABLE ' || quote_ident(t)``: lint cannot know it), and ``CREATE TYPE``,
``DOMAIN``, ``ROLE``, ``POLICY``, ``TRIGGER``, ``GRANT`` and the like, which DO blocks wrap for want of
``IF NOT EXISTS`` and which hold no long lock on a table. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pglast import ast, parse_plpgsql, parse_sql
from pglast.enums import ObjectType
from pglast.parser import ParseError

from .rules import FileState, Hit

_DROPPED = {
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_INDEX,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_SEQUENCE,
}
# A format() placeholder: %[position$][-][width]type, where the width may be * or *position$.
_PLACEHOLDER = re.compile(r"%(?:\d+\$)?-?(?:\*(?:\d+\$)?|\d+)?([sIL%])")
_STANDS_FOR = {"s": "sqlmig_arg", "I": "sqlmig_arg", "L": "'sqlmig_arg'", "%": "%"}


def do_block(stmt: ast.DoStmt, state: FileState) -> list[Hit]:
    """SQM418 for the first DDL statement on an existing table in the PL/pgSQL block ``stmt``."""
    options = {o.defname: o for o in stmt.args or ()}
    language = getattr(options.get("language"), "arg", None)
    body = options.get("as")
    if body is None or getattr(language, "sval", "plpgsql").lower() != "plpgsql":
        return []
    for line, sql, written in _statements(body.arg.sval):
        if _changes_existing(sql, state):
            shown = " ".join(written.split())
            return [
                Hit(
                    "SQM418",
                    f"the DO block runs DDL on line {line} of its body ({shown[:60]}{'…' * (len(shown) > 60)}): "
                    "lint's rules, verify's reader and a reviewer see only the block",
                    "write the statement on its own, with IF [NOT] EXISTS where PostgreSQL has it; if the block is "
                    "needed (no IF NOT EXISTS form), suppress this with that reason",
                    getattr(body, "arg_location", -1),
                )
            ]
    return []


def _statements(body: str) -> Iterator[tuple[int, str, str]]:
    """The (line in the body, SQL, SQL as written) of the block's static statements and of ``EXECUTE`` of a
    string constant or of format() with a constant format string (see above)."""
    tag = "$sqlmig$"
    while tag in body:
        tag = tag[:-1] + "_$"
    try:
        tree = parse_plpgsql(f"DO {tag}{body}{tag}")
    except ParseError:  # the server will say what is wrong when it runs the block
        return
    for node in _nodes(tree):
        if "PLpgSQL_stmt_execsql" in node:
            stmt = node["PLpgSQL_stmt_execsql"]
            query = stmt["sqlstmt"]["PLpgSQL_expr"]["query"]
            yield stmt.get("lineno", 1), query, query
        elif "PLpgSQL_stmt_dynexecute" in node:
            stmt = node["PLpgSQL_stmt_dynexecute"]
            found = _constant(stmt["query"]["PLpgSQL_expr"]["query"])
            if found is not None:
                formats, text = found
                sql = _PLACEHOLDER.sub(lambda m: _STANDS_FOR[m[1]], text) if formats else text
                yield stmt.get("lineno", 1), sql, text


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _constant(expr: str) -> tuple[bool, str] | None:
    """Whether ``expr`` is a format() call, and the string constant it is or formats, if it is one of those."""
    try:
        (raw,) = parse_sql(f"SELECT {expr}")
    except (ParseError, ValueError):
        return None
    select: Any = raw.stmt
    targets: tuple[Any, ...] = select.targetList or ()
    value: Any = targets[0].val if len(targets) == 1 else None
    name = [n.sval for n in value.funcname or ()] if isinstance(value, ast.FuncCall) else []
    formats = name in (["format"], ["pg_catalog", "format"])
    if formats and value.args and not value.agg_star:
        value = value.args[0]
    if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String) and value.val.sval is not None:
        return formats, value.val.sval
    return None


def _changes_existing(sql: str, state: FileState) -> bool:
    """Whether ``sql`` alters, indexes, drops or renames an object the file did not create."""
    try:
        stmts = [raw.stmt for raw in parse_sql(sql)]
    except ParseError:
        return False
    for stmt in stmts:
        if isinstance(stmt, (ast.AlterTableStmt, ast.IndexStmt, ast.RenameStmt)):
            if stmt.relation is not None and not state.is_new(stmt.relation):
                return True
        elif isinstance(stmt, ast.DropStmt) and stmt.removeType in _DROPPED:
            names = [tuple(getattr(n, "sval", "") for n in name) for name in stmt.objects or ()]
            if any(
                not state.is_new(ast.RangeVar(schemaname=n[-2] if len(n) > 1 else None, relname=n[-1])) for n in names
            ):
                return True
    return False
