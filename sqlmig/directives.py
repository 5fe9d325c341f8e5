"""Directives: ``-- sqlmig: …`` comments at the top of a migration file that change how it runs.

Pure: works on lines of text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .errors import DiscoveryError, FileProblem

KNOWN_DIRECTIVES: frozenset[str] = frozenset({"no-transaction", "no-template"})
# Directives with a value (``NAME=VALUE``), each with the pattern its value must match and what that means.
_DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?(us|ms|s|min|h|d)?$")  # ASCII digits: the server reads no others
VALUED_DIRECTIVES: dict[str, tuple[re.Pattern[str], str]] = {
    "lock-timeout": (_DURATION, "a duration such as 5s, 500ms or 0 (none)"),
    "statement-timeout": (_DURATION, "a duration such as 1h, 30s or 0 (none)"),
    "lock-retries": (re.compile(r"^[0-9]{1,3}$"), "a whole number of retries such as 3"),
}


def read_directives(lines: Iterable[str], path: Path) -> frozenset[str]:
    """Directives (``-- sqlmig: NAME[, NAME=VALUE ...]``, names case-insensitive) from the comments at the top of a
    file: flags such as ``no-transaction`` and ``NAME=VALUE`` settings such as ``lock-timeout=30s``.

    Reading stops at the first line that is neither blank nor a ``--`` comment, so ``lines`` may be read lazily.
    Raises :class:`DiscoveryError` listing every unknown name and every malformed value with its line.
    """
    found: set[str] = set()
    problems: list[FileProblem] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text and not text.startswith("--"):
            break
        marker, colon, names = text[2:].partition(":")
        for word in names.replace(",", " ").split() if colon and marker.strip().lower() == "sqlmig" else []:
            name, equals, value = word.partition("=")
            name = name.lower()
            if not equals and name in KNOWN_DIRECTIVES:
                found.add(name)
            elif equals and name in VALUED_DIRECTIVES:
                pattern, meaning = VALUED_DIRECTIVES[name]
                if pattern.match(value.lower()):
                    found.add(f"{name}={value.lower()}")
                else:
                    problems.append(FileProblem(path, number, f"{name} must be {meaning}, got {value!r}"))
            else:
                known = ", ".join([*sorted(KNOWN_DIRECTIVES), *(f"{n}=…" for n in sorted(VALUED_DIRECTIVES))])
                problems.append(FileProblem(path, number, f"unknown directive {word!r}; known: {known}"))
    if problems:
        raise DiscoveryError(problems)
    return frozenset(found)
