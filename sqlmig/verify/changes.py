"""How a changed function reads in a diff: the attributes that differ, and a few lines of its body's unified diff.

A function's entry in a snapshot is a summary line, then one ``name: value`` line per attribute, then its body after
a ``body:`` line (see :mod:`sqlmig.verify.queries`). A diff shows the summary when the function is added or
removed, and when it changed, one line naming what changed, e.g.
``~ function app.touch(): volatility VOLATILE → STABLE; SET search_path: (none) → pg_catalog``, followed by the
body's unified diff when the body changed.
"""

from __future__ import annotations

import difflib

# The kinds of entry described this way; an aggregate has no definition to show and stays one line.
_KINDS = ("function ", "procedure ", "window function ")
_BODY = "\nbody:\n"
# A diff is read in a terminal: the first lines of a body's diff say enough to find the change in the file.
BODY_LINES = 12
NONE = "(none)"


def structured(key: str, value: str | None) -> bool:
    """True when ``value`` is the several-line description of a function or procedure. Pure."""
    return value is not None and key.startswith(_KINDS) and "\n" in value


def summary(key: str, value: str) -> str:
    """The one line that stands for the entry when it is added or removed: a function's summary line, any other
    entry's whole description. Pure."""
    return value.split("\n", 1)[0] if structured(key, value) else value


def describe(key: str, before: str, after: str) -> list[str]:
    """The lines of a diff for a function described ``before`` and then ``after``: ``~ KEY: name old → new; …``
    for each attribute that differs (``(none)`` where it is not set, e.g. a ``SET search_path`` added), with
    ``body changed`` last when the body differs, followed by the body's unified diff (at most
    :data:`BODY_LINES` lines, indented). Pure."""
    old, old_body = _attributes(before)
    new, new_body = _attributes(after)
    names = [*new, *(name for name in old if name not in new)]
    changes = [
        _change(name, old.get(name, NONE), new.get(name, NONE)) for name in names if old.get(name) != new.get(name)
    ]
    body = [] if old_body == new_body else _body_diff(old_body, new_body)
    if body:
        changes.append("body changed")
    if not changes:  # only the summary differs, which the attributes always repeat: not expected, shown whole
        return [f"~ {key} before: {summary(key, before)} after: {summary(key, after)}"]
    return [f"~ {key}: {'; '.join(changes)}", *body]


def _attributes(value: str) -> tuple[dict[str, str], str]:
    head, _, body = value.partition(_BODY)
    pairs = (line.partition(": ") for line in head.split("\n")[1:])
    return {name: text for name, _, text in pairs}, body


def _change(name: str, old: str, new: str) -> str:
    # A setting reads as PostgreSQL's SET clause names it; the colon keeps its name apart from its value.
    return f"{name}: {old} → {new}" if name.startswith("SET ") else f"{name} {old} → {new}"


def _body_diff(old: str, new: str) -> list[str]:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:]  # no file names
    if len(lines) > BODY_LINES:
        lines = [*lines[:BODY_LINES], f"… {len(lines) - BODY_LINES} more line(s)"]
    return [f"    {line}" for line in lines]
