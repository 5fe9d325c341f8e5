"""Limits on the work of one template render, and the checks that hold values to them before they are made.

Pure: no Jinja2 here; :mod:`sqlmig.sandbox` calls these from the environment's hooks.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sized
from contextvars import ContextVar
from typing import Any

# Far above what a migration template needs (a few hundred iterations, values of a few kilobytes).
MAX_STEPS = 500_000  # loop iterations, calls, and items taken by map, sort, ... in one render
MAX_VALUE = 1_000_000  # characters or items of one value made by an operator, method or filter
MAX_OUTPUT = 100_000_000  # characters of output in one render, beyond the file's own text
MAX_INT_BITS = 65_536  # an integer made by * or ** (about 20,000 digits)
LIMIT_HINT = (
    "templates are limited to 500,000 loop iterations and calls, values of 1,000,000 characters or items and "
    "100,000,000 characters of output per file; generate SQL this large with a program, or as plain SQL "
    "('-- sqlmig: no-template')"
)

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class TemplateLimit(Exception):
    """A template went past one of the limits on the work of one render."""


class Budget:
    """What is left of one render's steps and output."""

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.output = MAX_OUTPUT

    def step(self) -> None:
        """Take one step; raises :class:`TemplateLimit` once the render has used them all."""
        self.steps -= 1
        if self.steps < 0:
            raise TemplateLimit(f"the template ran more than {MAX_STEPS:,} loop iterations and calls")

    def emit(self, size: int) -> None:
        """Count ``size`` characters of output; raises :class:`TemplateLimit` past the limit."""
        self.output -= size
        if self.output < 0:
            raise TemplateLimit(f"the template rendered more than {MAX_OUTPUT:,} characters beyond the file's own text")


BUDGET: ContextVar[Budget] = ContextVar("sqlmig_render_budget")


def budget() -> Budget:
    """The budget of the render under way."""
    try:
        return BUDGET.get()
    except LookupError:  # outside render_text, which gives each render its own, renders share this one
        budget = Budget()
        BUDGET.set(budget)
        return budget


def check_size(value: object, what: str = "a value") -> None:
    """Raise :class:`TemplateLimit` if ``value`` is a string or collection past :data:`MAX_VALUE`, or an integer past
    :data:`MAX_INT_BITS`."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) and len(value) > MAX_VALUE:
        raise TemplateLimit(f"{what} would have {len(value):,} characters or items, more than {MAX_VALUE:,}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimit(f"{what} would be an integer of more than {MAX_INT_BITS:,} bits")


def check_length(size: int, what: str) -> None:
    """Raise :class:`TemplateLimit` if ``what`` would make a value of ``size`` characters or items."""
    if size > MAX_VALUE:
        raise TemplateLimit(f"{what} would have {size:,} characters or items, more than {MAX_VALUE:,}")


def check_widths(widths: Iterable[object], what: str) -> None:
    """Raise :class:`TemplateLimit` if an integer among ``widths`` would pad a value past :data:`MAX_VALUE`."""
    for width in widths:
        if isinstance(width, int) and width > MAX_VALUE:
            raise TemplateLimit(f"{what} asks for a width of {width:,}, more than {MAX_VALUE:,}")


def _check_percent(text: str, args: object) -> None:
    """Check ``text % args`` before it runs: a width or precision is allocated whatever the value."""
    for match in _PERCENT_SPEC.finditer(text):
        for part in match.groups():
            if part == "*":
                check_widths(args if isinstance(args, tuple) else (args,), "a '%' format")
            elif part:
                check_widths([int(part)], "a '%' format")


def _check_brace_format(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check ``text.format(...)`` before it runs, including widths taken from the arguments (``{:{w}}``)."""
    for _, _, spec, _ in string.Formatter().parse(text):
        if not spec:
            continue
        check_widths([int(n) for n in re.findall(r"\d+", spec)], "a '{}' format")
        if "{" in spec:
            check_widths([*args, *kwargs.values()], "a '{}' format")


def _joined_size(items: object, separator: object) -> int:
    # Only lists and tuples can be measured without running them; other iterables are counted as they run.
    if not isinstance(items, (list, tuple)) or not items:
        return 0
    gaps = (len(items) - 1) * (len(separator) if isinstance(separator, str) else 0)
    return gaps + sum(len(x) if isinstance(x, str) else 1 for x in items)


def _grown_size(text: str, old: object, new: object) -> int:
    """The length of ``text.replace(old, new)``, without making it."""
    if not isinstance(old, str) or not isinstance(new, str):
        return 0
    if not old:
        return len(text) + (len(text) + 1) * len(new)
    return len(text) + max(text.count(old) * (len(new) - len(old)), 0)


def _wrapped_size(text: str, rest: list[Any], kwargs: dict[str, Any]) -> int:
    """At most the length of ``text|wordwrap(...)``: a wrapped line holds more than half its width, or one word."""
    width = rest[0] if rest else kwargs.get("width", 79)
    wrap = rest[3] if len(rest) > 3 else kwargs.get("wrapstring")
    lines = 2 * len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    return len(text) + lines * (len(wrap) if isinstance(wrap, str) else 1)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Check a template's ``left operator right`` before it runs."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                check_length(len(seq) * times, f"'{operator}'")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimit(f"'*' would make an integer of more than {MAX_INT_BITS:,} bits")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
            raise TemplateLimit(f"'**' would make an integer of more than {MAX_INT_BITS:,} bits")
    elif operator == "+" and isinstance(left, Sized) and isinstance(right, Sized):
        check_length(len(left) + len(right), "'+'")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


def check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check a call of a ``str`` method that pads, replaces or joins before it runs."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS:
        check_widths([*args, *kwargs.values()], f"str.{name}")
    elif name == "replace" and len(args) >= 2:
        check_length(_grown_size(owner, args[0], args[1]), "str.replace")
    elif name == "join" and args:
        check_length(_joined_size(args[0], owner), "str.join")


def check_str_format(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check a call of ``str.format`` or ``format_map`` before it runs."""
    # The sandbox hands templates a wrapper of str.format; the string it formats is the wrapped method's owner.
    text = getattr(getattr(obj, "__wrapped__", None), "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(text, str) or name not in {"format", "format_map"}:
        return
    if name == "format_map":
        _check_brace_format(text, (), dict(args[0]) if args and isinstance(args[0], Mapping) else {})
    else:
        _check_brace_format(text, args, kwargs)


def check_filter(name: str, value: object, rest: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check a filter's arguments before it runs: widths, counts and the size of what it would make."""
    if name == "format" and isinstance(value, str):
        _check_percent(value, tuple(rest) or kwargs)
    elif name in {"center", "batch", "slice", "truncate"}:
        check_widths([*rest, *kwargs.values()], f"the {name} filter")
    elif name == "indent" and isinstance(value, str):
        width = rest[0] if rest else kwargs.get("width", 4)
        per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        check_length(len(value) + (value.count("\n") + 1) * per_line, "the indent filter")
    elif name == "wordwrap" and isinstance(value, str):
        check_length(_wrapped_size(value, [*rest], kwargs), "the wordwrap filter")
    elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
        check_length(_grown_size(value, rest[0], rest[1]), "the replace filter")
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        check_length(_joined_size(value, separator), "the join filter")
