"""Lint: the rules (pure functions over pglast syntax trees) and the driver that runs them over migration files.

The names are loaded on first use: a lint run answered from the cache never loads the parser, which importing
the rules (:data:`RULES`) would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import LintReport, lint, lint_files
    from .finding import Finding
    from .rules import RULES

__all__ = ["RULES", "Finding", "LintReport", "lint", "lint_files"]


def __getattr__(name: str) -> Any:
    if name == "RULES":
        from .rules import RULES

        return RULES
    if name == "Finding":
        from .finding import Finding

        return Finding
    if name in ("LintReport", "lint", "lint_files"):
        from . import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
