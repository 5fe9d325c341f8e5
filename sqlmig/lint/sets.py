"""The lint rule sets, and which rules a run reports.

Every rule belongs to one set:

- ``file``: the file itself, which sqlmig would refuse to run or whose suppressions are wrong (SQM001 to SQM003,
  SQM005 to SQM009). Always on.
- ``conventions``: the project conventions sqlmig's own migrations follow: schema-qualified names (SQM101,
  SQM102), DDL and DML in their tracks (SQM201, SQM202), statements safe to run twice (SQM301 to SQM304), a down for
  every up (SQM004), no empty files (SQM010). On when chosen (``lint_rules = ["safety", "conventions"]``).
- ``safety``: every other rule, the ``SQM4xx`` operations that are unsafe on a live database. On by default; a
  new rule that is neither a file rule nor a convention lands here.

Pure, and light: it imports nothing that parses SQL, so that a run answered from the cache never loads the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..config import DEFAULT_LINT_RULES, LINT_RULE_SETS
from ..errors import ConfigError

RuleSet = Literal["file", "safety", "conventions"]

FILE_RULES = frozenset({"SQM001", "SQM002", "SQM003", "SQM005", "SQM006", "SQM007", "SQM008", "SQM009"})
CONVENTION_RULES = frozenset(
    {"SQM004", "SQM010", "SQM101", "SQM102", "SQM201", "SQM202", "SQM301", "SQM302", "SQM303", "SQM304"}
)


def rule_set(code: str) -> RuleSet:
    """The set rule ``code`` belongs to. Pure."""
    if code in FILE_RULES:
        return "file"
    return "conventions" if code in CONVENTION_RULES else "safety"


@dataclass(frozen=True)
class Selection:
    """The rules a run reports: the file rules always, the rules of ``sets`` and the single ``codes``."""

    sets: frozenset[str]
    codes: frozenset[str] = frozenset()

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        kind = rule_set(code)
        return kind == "file" or kind in self.sets or code in self.codes

    @property
    def names(self) -> tuple[str, ...]:
        """The selection as ``lint_rules`` writes it: set names, then codes."""
        return (*(s for s in LINT_RULE_SETS if s in self.sets), *sorted(self.codes))


def select(names: Iterable[str] | None = None, *, key: str = "lint_rules") -> Selection:
    """The selection that ``names`` (set names and rule codes, as in ``lint_rules`` or ``--rules``) make; None is
    the default (``safety``). Raises :class:`~sqlmig.ConfigError`, naming ``key``, for an unknown set or rule. Pure.
    """
    chosen = tuple(DEFAULT_LINT_RULES if names is None else names)
    sets = frozenset(n.lower() for n in chosen if n.lower() in LINT_RULE_SETS)
    codes = frozenset(n.upper() for n in chosen if n.lower() not in LINT_RULE_SETS)
    if codes:
        from .rules import RULES  # the parser's modules: only when single rules are chosen

        unknown = sorted(codes - set(RULES))
        if unknown:
            raise ConfigError(
                f"{key}: unknown rule set or rule {', '.join(unknown)}; valid: {', '.join(LINT_RULE_SETS)} or a rule "
                f"code ({', '.join(RULES)})"
            )
    return Selection(sets, codes)
