"""What a fan-out returns: one result per target, in the targets' order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import SqlmigError
from ..model import Track

# current: nothing was pending; applied: its pending migrations ran; failed: it stopped at an error (its own history
# says exactly what of it ran); skipped: never started, because the canary or --max-failures stopped the fan-out.
TargetStatus = Literal["current", "applied", "failed", "skipped"]


@dataclass(frozen=True)
class Selection:
    """Which targets: ``schemas`` (a list, or names separated by commas), the ``schemas_from`` query's rows, or
    the ``databases_from`` file or query's databases (none given: ``[tool.sqlmig.targets]``); with ``shard``
    (``"I/N"``), only that part of them."""

    schemas: str | Sequence[str] | None = None
    schemas_from: str | None = None
    databases_from: str | None = None
    shard: str | None = None


@dataclass(frozen=True)
class Policy:
    """How a fan-out runs its targets: ``jobs`` at a time; no new one after ``max_failures`` failed; the first
    ``canary`` ones before the rest, and none of the rest if one of them failed."""

    jobs: int = 4
    max_failures: int | None = None
    canary: int = 0


@dataclass(frozen=True, slots=True)  # slots: a fan-out holds one per target
class TargetResult:
    """One target's outcome: ``applied`` names what ran (in order), ``error`` is why it failed."""

    target: str
    status: TargetStatus
    applied: tuple[str, ...] = ()
    duration_ms: float = 0.0
    error: SqlmigError | None = None


@dataclass(frozen=True)
class FanoutReport:
    """Every target's result, in the order the targets were given."""

    track: Track
    results: tuple[TargetResult, ...]

    def count(self, status: TargetStatus) -> int:
        """How many targets ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """Whether every target is up to date: none failed and none was skipped."""
        return not any(r.status in ("failed", "skipped") for r in self.results)

    @property
    def failed(self) -> tuple[TargetResult, ...]:
        """The targets that failed, in order."""
        return tuple(r for r in self.results if r.status == "failed")
