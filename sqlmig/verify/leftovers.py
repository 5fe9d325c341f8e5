"""Differences a newer migration's down left behind, so that each is reported once: at that migration.

When a down leaves something behind (a column, a grant, a setting), every older migration is then checked on a
catalog that still holds it. Where an older migration touches the same entry (another column of the same table
changes its column order; another privilege joins the same grant), the comparison of that entry would show the
leftover again. So each comparison is told the leftovers, the entries where the catalog before that migration's
down differs from the one its up left, and leaves out a difference that is no more than a leftover's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from . import catalog

Leftovers = dict[str, tuple[str | None, str | None]]
# A description's parts are its words: lists are comma-separated (privileges, column order, table settings),
# options in parentheses, and a column's settings are words in a row (``text not null storage main``), so that
# one added by a leftover is told apart from one added by the migration under check.
_PART = re.compile(r"[^\s,()]+")


def changed(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    """The keys whose entries differ between ``a`` and ``b`` (present in one only, or described differently)."""
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}


def found(expected: Mapping[str, str], actual: Mapping[str, str]) -> Leftovers:
    """The entries where ``actual`` differs from ``expected``, as key -> (expected value, actual value), None
    where absent. Pure."""
    return {key: (expected.get(key), actual.get(key)) for key in changed(expected, actual)}


def compare(expected: Mapping[str, str], actual: Mapping[str, str], keys: set[str], left: Leftovers) -> list[str]:
    """:func:`sqlmig.verify.catalog.diff` of ``expected`` and ``actual`` restricted to ``keys``, leaving out each
    entry whose difference the leftovers ``left`` explain (see :func:`explained`). Pure."""
    kept = {
        k
        for k in keys
        if k not in left or not explained(expected.get(k), actual.get(k), *left[k], counts=k.endswith(catalog.ROWS))
    }
    return catalog.diff(*({k: state[k] for k in kept if k in state} for state in (expected, actual)))


def explained(
    expected: str | None, actual: str | None, was: str | None, now: str | None, *, counts: bool = False
) -> bool:
    """True when an entry found ``actual`` instead of ``expected`` differs by no more than a leftover that turned
    it from ``was`` into ``now``: for a row count (``counts``), a count off by the same number (a seed's rows);
    otherwise parts added only where the leftover added them and removed only where it removed them. Pure."""
    if expected == actual:
        return True
    numbers = [_count(v) for v in (expected, actual, was, now)] if counts else []
    if numbers and all(n is not None for n in numbers):
        e, a, w, n = (c or 0 for c in numbers)
        return a - e == n - w
    plus, minus = _parts(actual) - _parts(expected), _parts(expected) - _parts(actual)
    if not plus and not minus:  # the same parts in another order: explained by a leftover that only reordered
        return _parts(was) == _parts(now)
    return plus <= _parts(now) - _parts(was) and minus <= _parts(was) - _parts(now)


def _parts(value: str | None) -> Counter[str]:
    return Counter(_PART.findall(value or ""))


def _count(value: str | None) -> int | None:
    # A table's row count; a table that is not there has none.
    if value is None:
        return 0
    return int(value) if value.isascii() and value.isdigit() else None
