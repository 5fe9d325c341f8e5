"""Fan-out targets (provisional)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A target."""

    schema: str
    vars: Mapping[str, str] = field(default_factory=dict)
