"""Lint: the rules (pure functions over pglast syntax trees) and the driver that runs them over migration files."""

from .driver import Finding, LintReport, lint, lint_files
from .rules import RULES

__all__ = ["RULES", "Finding", "LintReport", "lint", "lint_files"]
