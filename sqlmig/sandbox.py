"""The one Jinja2 environment: sandboxed, and bounded in the work one render may do.

Templates come with the files under review (``lint`` renders them on pull requests), so a template must neither
reach Python's internals nor keep a process busy for ever. Jinja2's sandbox caps one ``range`` at 100,000 items but
not the total: nested loops, recursive macros, ``'x' * 10**10`` or ``'%99999999s'|format(1)`` would run for hours or
exhaust memory. Every loop iteration and call takes a step from a per-render budget, every value an operator, method
or filter makes is held to a size, and so is the output. Imported only when a template is rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from .renderlimits import budget, check_binop, check_filter, check_length, check_method, check_size, check_str_format

# Filters that run Python code for each item: each item they take is a step, so that one in a loop over a long
# list cannot run for hours.
PER_ITEM_FILTERS = frozenset(
    {"map", "select", "reject", "selectattr", "rejectattr", "groupby", "unique", "sort", "batch", "slice"}
    | {"sum", "min", "max"}
)


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja2's ``lipsum``, refused when it would make more than :data:`MAX_VALUE` words."""
    from jinja2.utils import generate_lorem_ipsum

    check_length(n * max, "lipsum")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def counted(iterable: Iterable[Any], text: int = 0) -> Iterator[Any]:
    """The items of ``iterable``, each taking a step of the render's budget and charging the ``text`` characters of
    the loop's body to its output (every ``{% for %}`` iterates this)."""
    left = budget()
    for item in iterable:
        left.step()
        left.emit(text)
        yield item


def charge(text: int) -> None:
    """Charge the ``text`` characters of a macro's body to the render's output, each time the macro runs."""
    budget().emit(text)


def concat_values(values: list[Any]) -> str:
    """``a ~ b``: the strings joined, refused before joining when the result would be too large."""
    parts = [str(v) for v in values]
    check_length(sum(map(len, parts)), "'~'")
    return "".join(parts)


def _finalize(value: Any) -> Any:
    # Every {{ ... }}, also inside macros and {% set %} blocks whose output never reaches render_text's count.
    if isinstance(value, str):
        budget().emit(len(value))
    return value


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        # Filters passed the environment or context take it first; the value filtered comes next.
        start = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
        value, rest = (args[start] if len(args) > start else None), args[start + 1 :]
        check_filter(name, value, rest, kwargs)
        if name in PER_ITEM_FILTERS and value is not None:
            args = (*args[:start], counted(value), *args[start + 1 :])
        result = func(*args, **kwargs)
        check_size(result, f"the {name} filter")
        return result

    if hasattr(func, "jinja_pass_arg"):  # so that Jinja2 still passes the environment or context first
        bounded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    bounded.__name__ = name
    return bounded


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every refused access raised and the work of one render bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options, finalize=_finalize)
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        self.globals["lipsum"] = lipsum
        self.counted = counted
        self.charge = charge
        self.concat_values = concat_values

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # Jinja2 returns an undefined value here, which e.g. map(attribute='__class__') renders silently.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is not allowed")

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        bounded: nodes.Template = _Bound().visit(tree)
        return bounded

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse an operator whose result would be too large before computing it."""
        check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        check_size(result, f"'{operator}'")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call from a template: one step of the budget, widths checked before and the result's size after."""
        if __obj is charge:  # inserted by _Bound, not a call of the template's own
            return charge(*args)
        budget().step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's loop(children) iterates again
            args = (counted(args[0]), *args[1:])
        check_method(__obj, args, kwargs)
        check_str_format(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        check_size(result, "a call")
        return result


class _Bound(NodeTransformer):
    """Every loop iterates through ``counted``, and a macro or ``{% call %}`` body charges its text when it runs;
    ``a ~ b`` goes through ``concat_values``, which checks its size."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        cost = nodes.Const(_own_text(node.body))
        node.iter = _call("counted", [node.iter, cost], node.lineno)
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        return self._charge_body(node)

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        return self._charge_body(node)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("concat_values", [nodes.List(node.nodes)], node.lineno)

    def _charge_body(self, node: nodes.Macro | nodes.CallBlock) -> nodes.Node:
        self.generic_visit(node)
        charge = nodes.ExprStmt(_call("charge", [nodes.Const(_own_text(node.body))], node.lineno))
        node.body = [charge.set_lineno(node.lineno), *node.body]
        return node


def _own_text(body: list[nodes.Node]) -> int:
    """The characters of template text in ``body`` outside nested loops and macros, which charge their own."""
    size, stack = 0, list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            size += len(node.data)
        elif not isinstance(node, (nodes.For, nodes.Macro, nodes.CallBlock)):
            stack.extend(node.iter_child_nodes())
    return size


def _call(name: str, arguments: list[nodes.Node], lineno: int) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), arguments, [], None, None)
    call.set_lineno(lineno)
    return call
