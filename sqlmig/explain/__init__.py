"""Explain: apply the pending migrations on a scratch database and measure each statement's locks, rewrites
and time."""

from .driver import explain
from .report import ExplainReport, FileExplained, LockTaken, StatementExplained

__all__ = ["ExplainReport", "FileExplained", "LockTaken", "StatementExplained", "explain"]
