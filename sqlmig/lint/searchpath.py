"""The search_path a file sets for itself, so that SQM101 (a name without its schema) respects it.

sqlmig starts every migration in the same session state, so an unqualified name means what the role's default
search_path says, unless the file chose one: ``SET search_path``, ``SET LOCAL search_path``, ``SET SCHEMA``, or
``SELECT set_config('search_path', …, is_local)``. From that statement on, a name without a schema is what the
file asked for, and SQM101 is quiet, when the path the file chose:

- names only schemas: ``"$user"`` in it still depends on the role that runs the migration (the first schema
  that exists wins), so names stay reported; an empty path (``''``) leaves nothing to find them in, so they
  stay reported too;
- is still in force: ``RESET search_path``, ``RESET ALL``, ``SET search_path TO DEFAULT`` and ``FROM CURRENT``
  go back to the session's path. A ``SET LOCAL`` (or ``set_config(…, true)``) lasts until its transaction ends:
  the whole file when it runs in one, until ``COMMIT``/``ROLLBACK`` in a ``no-transaction`` file that opens one
  with ``BEGIN``, and not at all outside a transaction block (PostgreSQL ignores it there, with a warning).

A path given as an expression that is not a constant is taken as chosen by the file. Pure: works on pglast
syntax trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglast import ast
from pglast.enums import TransactionStmtKind, VariableSetKind

_OPEN = {TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START}
_CLOSE = {
    TransactionStmtKind.TRANS_STMT_COMMIT,
    TransactionStmtKind.TRANS_STMT_ROLLBACK,
    TransactionStmtKind.TRANS_STMT_PREPARE,
}
_UNSET: tuple[str, ...] = ("\0unset",)
_CHOSEN: tuple[str, ...] = ("\0expression",)  # a path the file computes: chosen by it, not known here


@dataclass
class SearchPath:
    """The search_path in force at each statement of one file (see the module's documentation). ``transactional``
    is False for a ``-- sqlmig: no-transaction`` file."""

    transactional: bool = True
    session: tuple[str, ...] | None = None  # None: the session's own, which the file did not choose
    local: tuple[str, ...] = _UNSET
    in_block: bool = False

    @property
    def chosen(self) -> bool:
        """Whether an unqualified name means what the file asked for at this point."""
        path = self.session if self.local is _UNSET else self.local
        if path is None or not path:
            return False
        return path is _CHOSEN or "$user" not in path

    def see(self, stmt: Any) -> None:
        """Take the effect of ``stmt`` on the search_path into account."""
        if isinstance(stmt, ast.TransactionStmt) and not self.transactional:
            if stmt.kind in _OPEN:
                self.in_block = True
            elif stmt.kind in _CLOSE:
                self.in_block, self.local = False, _UNSET
        elif isinstance(stmt, ast.VariableSetStmt) and stmt.name in ("search_path", None):
            self._set(stmt)
        elif isinstance(stmt, ast.SelectStmt):
            for target in stmt.targetList or ():
                call = getattr(target, "val", None)
                if isinstance(call, ast.FuncCall) and _name(call.funcname) in ("set_config", "pg_catalog.set_config"):
                    self._set_config(call.args or ())

    def _set(self, stmt: ast.VariableSetStmt) -> None:
        if stmt.kind == VariableSetKind.VAR_SET_VALUE and stmt.name == "search_path":
            self._assign(tuple(_constant(a) or "" for a in stmt.args or ()), bool(stmt.is_local))
        elif stmt.kind == VariableSetKind.VAR_RESET_ALL or stmt.name == "search_path":
            self.session, self.local = None, _UNSET  # RESET, TO DEFAULT, FROM CURRENT: the session's path

    def _set_config(self, args: tuple[Any, ...] | list[Any]) -> None:
        if len(args) != 3 or _constant(args[0]) != "search_path":
            return
        value = _constant(args[1])
        path = _CHOSEN if value is None else tuple(_split(value))
        local = args[2].val.boolval if isinstance(args[2], ast.A_Const) and isinstance(args[2].val, ast.Boolean) else 1
        self._assign(path, bool(local))

    def _assign(self, path: tuple[str, ...], local: bool) -> None:
        path = tuple(p for p in path if p) if path is not _CHOSEN else path
        if not local:
            self.session, self.local = path, _UNSET
        elif self.transactional or self.in_block:
            self.local = path


def _name(parts: Any) -> str:
    return ".".join(getattr(p, "sval", "") or "" for p in parts or ())


def _constant(node: Any) -> str | None:
    """The text of a string constant, else None."""
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def _split(value: str) -> list[str]:
    """The schemas of a search_path given as one string (``'app, "$user", public'``)."""
    return [part.strip().strip('"') for part in value.split(",")]
