"""Walking pglast syntax trees: every node, parents before children. Pure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

# Subtrees the walk leaves out, which name nothing lint's rules look at, or name things another way: aggregate
# support functions parsed as type names, the elements of CREATE SCHEMA … (they live in that schema), operator
# and cast definitions.
_SKIP = {("DefineStmt", "definition"), ("CreateSchemaStmt", "schemaElts")}


def walk(node: Any) -> Iterator[Any]:
    """Every node of a syntax tree, parents before children."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            for attr in _children(type(item)):
                value = getattr(item, attr)
                if value is not None:
                    stack.append(value)
        elif isinstance(item, (tuple, list)):
            stack.extend(reversed(item))


_CHILDREN: dict[type, tuple[str, ...]] = {}


def _children(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that may hold nodes, last first (so that the walk pops them in order):
    looking only at those makes the walk several times faster on large INSERT statements."""
    found = _CHILDREN.get(cls)
    if found is None:
        slots = getattr(cls, "__slots__", None)
        pointers = [
            attr
            for attr, info in (slots.items() if isinstance(slots, dict) else ())
            if (info.c_type.endswith("*") and info.c_type != "char*") or info.c_type == "CreateStmt"
        ]
        found = _CHILDREN[cls] = tuple(a for a in reversed(pointers) if (cls.__name__, a) not in _SKIP)
    return found
