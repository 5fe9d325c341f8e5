"""SQM419: a SECURITY DEFINER function or procedure without a search_path of its own, made so by CREATE FUNCTION or
by ALTER FUNCTION … SECURITY DEFINER. A file may give the function its search_path in another statement: an ALTER
FUNCTION … SET search_path later in the file withdraws the finding (in the migration's transaction nobody can call
the function in between), and one made earlier (or a CREATE FUNCTION with SET search_path) spares a later ALTER
FUNCTION … SECURITY DEFINER, until a CREATE OR REPLACE or a RESET takes the setting away. What the file did is kept
in :attr:`FileState.facts <sqlmig.lint.rules.FileState>` (see :mod:`sqlmig.lint.facts`). Pure: works on pglast
syntax trees.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import FunctionParameterMode, ObjectType, VariableSetKind

from .facts import DEFINER, PINNED, matching, note, withdraw
from .rules import FileState, Hit

# The parameter modes that make up a function's signature (OUT and TABLE columns do not).
_INPUT = {
    FunctionParameterMode.FUNC_PARAM_IN,
    FunctionParameterMode.FUNC_PARAM_INOUT,
    FunctionParameterMode.FUNC_PARAM_VARIADIC,
    FunctionParameterMode.FUNC_PARAM_DEFAULT,
}
_WHAT = {ObjectType.OBJECT_PROCEDURE: "procedure", ObjectType.OBJECT_ROUTINE: "routine"}
_HINT = (
    "add SET search_path = '' and schema-qualify every name in the body (or SET search_path = pg_catalog, "
    "<schema>, with pg_temp last or absent)"
)


def definer(stmt: Any, state: FileState) -> list[Hit]:
    """SQM419 for CREATE FUNCTION ``stmt`` or ALTER FUNCTION ``stmt`` making a function SECURITY DEFINER without
    a search_path, given what the file did before it (``state``)."""
    if isinstance(stmt, ast.CreateFunctionStmt):
        return _created(stmt)
    if isinstance(stmt, ast.AlterFunctionStmt):
        return _altered(stmt, state)
    return []


def learn(stmt: Any, state: FileState) -> None:
    """Record in ``state`` which functions ``stmt`` makes SECURITY DEFINER and which it gives (or takes away) a
    search_path, and withdraw the earlier SQM419 findings that a search_path given here makes untrue."""
    types: str | None
    if isinstance(stmt, ast.CreateFunctionStmt):
        name, types = _name(stmt.funcname), _signature(p.argType for p in stmt.parameters or () if p.mode in _INPUT)
        state.facts -= set(_same(state, PINNED, name, types))  # CREATE OR REPLACE sets every attribute anew
        note(state, DEFINER, *name, types, str(state.statement))
        options = _options(stmt.options)
        if _language(options) in ("c", "internal") or any(_pins(s) for s in _settings(stmt.options)):
            note(state, PINNED, *name, types)
    elif isinstance(stmt, ast.AlterFunctionStmt):
        name, types = _target(stmt.func)
        for setting in _settings(stmt.actions):
            if _pins(setting):
                note(state, PINNED, *name, types)
                withdraw(state, "SQM419", _same(state, DEFINER, name, types))
            elif setting.kind == VariableSetKind.VAR_RESET_ALL or setting.name == "search_path":
                state.facts -= set(_same(state, PINNED, name, types))
        if _makes_definer(stmt.actions):
            note(state, DEFINER, *name, types, str(state.statement))


def _created(stmt: Any) -> list[Hit]:
    options = _options(stmt.options)
    definer = getattr(options.get("security"), "boolval", False)
    if not definer or _language(options) in ("c", "internal") or any(_pins(s) for s in _settings(stmt.options)):
        return []
    what = "procedure" if stmt.is_procedure else "function"
    return [
        Hit(
            "SQM419",
            f"SECURITY DEFINER {what} {'.'.join(n.sval for n in stmt.funcname)} has no SET search_path: it runs "
            "with its owner's rights but finds tables, functions and operators through the caller's search_path, "
            "which the caller controls",
            _HINT,
        )
    ]


def _altered(stmt: Any, state: FileState) -> list[Hit]:
    if not _makes_definer(stmt.actions) or any(_pins(s) for s in _settings(stmt.actions)):
        return []
    name, types = _target(stmt.func)
    if _same(state, PINNED, name, types):
        return []
    what = _WHAT.get(stmt.objtype, "function")
    return [
        Hit(
            "SQM419",
            f"ALTER {what.upper()} … SECURITY DEFINER makes {what} {'.'.join(n for n in name if n)} run with its "
            "owner's rights, and this file gives it no search_path: it finds tables, functions and operators "
            "through the caller's search_path, which the caller controls",
            f"{_HINT} in this statement; if an earlier migration gave the {what} its search_path, suppress this with "
            "that reason",
        )
    ]


def _same(state: FileState, kind: str, name: tuple[str | None, str], types: str | None) -> list[tuple[Any, ...]]:
    """The facts of ``kind`` about the function ``name``: with the same argument types when both sides give them
    (ALTER FUNCTION f without them names the one function f)."""
    return [f for f in matching(state, kind, *name) if types is None or f[3] is None or f[3] == types]


def _target(func: Any) -> tuple[tuple[str | None, str], str | None]:
    """The name and argument types (None when not given) of the function ALTER FUNCTION names."""
    return _name(func.objname), None if func.args_unspecified else _signature(func.objargs or ())


def _name(parts: Any) -> tuple[str | None, str]:
    names = [n.sval for n in parts]
    return (names[-2] if len(names) > 1 else None), names[-1]


def _options(options: Any) -> dict[str, Any]:
    return {str(o.defname): o.arg for o in options or () if isinstance(o, ast.DefElem) and o.defname != "set"}


def _language(options: dict[str, Any]) -> str:
    return str(getattr(options.get("language"), "sval", "sql")).lower()


def _settings(options: Any) -> list[Any]:
    """The SET and RESET clauses among a function's options or ALTER FUNCTION's actions, in order."""
    return [o.arg for o in options or () if isinstance(o, ast.DefElem) and o.defname == "set"]


def _makes_definer(actions: Any) -> bool:
    given = [a.arg for a in actions or () if isinstance(a, ast.DefElem) and a.defname == "security"]
    return bool(given) and bool(getattr(given[-1], "boolval", False))


def _pins(setting: Any) -> bool:
    """Whether a SET clause is ``SET search_path = …`` or ``SET search_path FROM CURRENT``."""
    kinds = (VariableSetKind.VAR_SET_VALUE, VariableSetKind.VAR_SET_CURRENT)
    return isinstance(setting, ast.VariableSetStmt) and setting.name == "search_path" and setting.kind in kinds


def _signature(types: Any) -> str:
    """Argument types as a key: the type's own name (``int4`` for ``integer`` and ``pg_catalog.int4``), with
    ``[]`` per array dimension."""
    return ",".join(t.names[-1].sval + "[]" * len(t.arrayBounds or ()) for t in types)
