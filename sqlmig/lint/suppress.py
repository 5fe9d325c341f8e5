"""Lint suppression comments, and which statements they cover.

``-- sqlmig-lint: ignore SQM101[, SQM202 …] -- reason`` on the line(s) just above a statement (only comment lines
between) or on one of its lines covers that statement; ``-- sqlmig-lint: ignore-file SQM004 -- reason`` among the
comments at the top of a file covers the whole file. The prefix is deliberately not ``sqlmig:``, which starts a
directive (see :func:`sqlmig.files.read_directives`, which rejects names it does not know). Pure: no files.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..sqltext import Statement
from .rules import RULES

_MARK = re.compile(r"--[ \t]*sqlmig-lint[ \t]*:(?P<body>[^\n]*)", re.IGNORECASE)
_EXAMPLE = "-- sqlmig-lint: ignore SQM101 -- why the rule does not apply here"
_UNATTACHED, _NOT_A_COMMENT = -1, -2


@dataclass
class Mark:
    """A suppression comment: where its ``--`` is (1-based ``line`` and ``column``), the ``text`` of its line, its
    ``body`` (after ``sqlmig-lint:``), and for a comment alone on its line, ``next_line``: the first line after it
    that is not a ``--`` comment (None when that line is blank or the text ends)."""

    line: int
    column: int
    text: str
    body: str
    next_line: int | None = None

    @property
    def alone(self) -> bool:
        """Whether the comment is alone on its line."""
        return not self.text[: self.column - 1].strip()


@dataclass
class Marks:
    """The suppression comments of a text, found while its lines are read (see :meth:`wrap`)."""

    found: list[Mark] = field(default_factory=list)
    _lines: list[int] = field(default_factory=list)
    _waiting: list[Mark] = field(default_factory=list)

    def wrap(self, lines: Iterable[str]) -> Iterator[str]:
        """``lines`` unchanged, noting the suppression comments they hold on the way."""
        for number, line in enumerate(lines, 1):
            if self._waiting and not line.lstrip().startswith("--"):
                for mark in self._waiting:
                    mark.next_line = number if line.strip() else None
                self._waiting = []
            if "sqlmig-lint" in line.lower() and (match := _MARK.search(line)):
                mark = Mark(number, match.start() + 1, line.rstrip("\r\n"), match["body"])
                self.found.append(mark)
                self._lines.append(number)
                if mark.alone:
                    self._waiting.append(mark)
            yield line

    def within(self, statement: Statement) -> bool:
        """Whether a suppression comment is on one of the lines of ``statement``."""
        i = bisect_left(self._lines, statement.line)
        return i < len(self._lines) and self._lines[i] <= statement.line + statement.text.count("\n")


@dataclass(frozen=True)
class Span:
    """Where a statement is: ``start`` and ``end`` (exclusive) as (line, column); ``statement`` is kept only when
    a suppression comment is on its lines (to tell a comment from a string holding ``--``)."""

    start: tuple[int, int]
    end: tuple[int, int]
    statement: Statement | None = None


@dataclass
class Suppressions:
    """What the marks of a file cover: ``file`` maps a code to the marks (by index) suppressing it file-wide,
    ``statements`` a statement's index to the codes suppressed for it and their marks; ``codes`` lists every
    (mark, code) pair, ``unattached`` the marks that are neither above nor on a statement, ``problems`` the
    (mark, message, hint) of malformed or misplaced marks."""

    file: dict[str, list[int]] = field(default_factory=dict)
    statements: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    codes: list[tuple[int, str]] = field(default_factory=list)
    unattached: list[int] = field(default_factory=list)
    problems: list[tuple[Mark, str, str]] = field(default_factory=list)

    def covering(self, code: str, statement: int) -> list[int]:
        """The marks that suppress ``code`` for the statement numbered ``statement`` (-1: none in particular)."""
        return self.file.get(code, []) + self.statements.get(statement, {}).get(code, [])


def resolve(marks: list[Mark], spans: list[Span], is_comment: Callable[[str, int], bool]) -> Suppressions:
    """What each of ``marks`` covers, given the statements' ``spans`` in order; ``is_comment(text, offset)`` says
    whether a ``--`` comment starts at ``offset`` of a statement's text."""
    result = Suppressions()
    starts = [span.start for span in spans]
    first = spans[0].start[0] if spans else None
    for index, mark in enumerate(marks):
        head, _, reason = mark.body.partition("--")
        words = head.replace(",", " ").split()
        action = words[0].lower() if words else ""
        target = _target(mark, spans, starts, is_comment) if action == "ignore" else _UNATTACHED
        if target == _NOT_A_COMMENT:
            continue  # "-- sqlmig-lint:" inside a string: text, not a suppression
        if action == "ignore-file" and (not mark.alone or (first is not None and mark.line >= first)):
            hint = "move it among the comments at the top of the file, before the first statement"
            result.problems.append((mark, "a file-wide suppression must come before the first statement", hint))
            continue
        codes = _codes(mark, action, words[1:], result.problems)
        if codes and not reason.strip():
            result.problems.append((mark, "suppression gives no reason", f"say why after a second --: {_EXAMPLE}"))
        result.codes += [(index, code) for code in codes]
        for code in codes:
            if action == "ignore-file":
                result.file.setdefault(code, []).append(index)
            elif target >= 0:
                result.statements.setdefault(target, {}).setdefault(code, []).append(index)
        if codes and action == "ignore" and target < 0:
            result.unattached.append(index)
    return result


def _codes(mark: Mark, action: str, words: list[str], problems: list[tuple[Mark, str, str]]) -> list[str]:
    """The valid rule codes of a suppression; a problem for each invalid one."""
    if action not in ("ignore", "ignore-file"):
        problems.append((mark, f"unknown suppression {action!r}: expected ignore or ignore-file", _EXAMPLE))
        return []
    if not words:
        problems.append((mark, "suppression names no rule", f"name the rules it is for: {_EXAMPLE}"))
        return []
    codes = []
    for code in (word.upper() for word in words):
        rule = RULES.get(code)
        if rule is None:
            problems.append((mark, f"unknown rule {code}", f"use one of {', '.join(RULES)}"))
        elif not rule.suppressible:
            problems.append((mark, f"{code} cannot be suppressed ({rule.summary})", "fix what it reports"))
        else:
            codes.append(code)
    return codes


def _target(
    mark: Mark, spans: list[Span], starts: list[tuple[int, int]], is_comment: Callable[[str, int], bool]
) -> int:
    """The index of the statement a mark covers, or _UNATTACHED, or _NOT_A_COMMENT."""
    at = (mark.line, mark.column)
    k = bisect_right(starts, at) - 1
    if k >= 0 and at < spans[k].end:  # on one of the statement's lines, inside it
        statement = spans[k].statement
        if statement is not None and not is_comment(statement.text, _offset(statement, at)):
            return _NOT_A_COMMENT
        return k
    if k >= 0 and spans[k].end[0] == mark.line and not mark.text[spans[k].end[1] - 1 : mark.column - 1].strip(" \t;"):
        return k  # after the statement's end, on its last line
    if mark.alone and mark.next_line is not None:
        k = bisect_left(starts, (mark.next_line, 0))
        if k < len(spans) and spans[k].start[0] == mark.next_line:
            return k
    return _UNATTACHED


def _offset(statement: Statement, at: tuple[int, int]) -> int:
    """The offset in ``statement.text`` of (line, column) ``at``, which is inside it."""
    line, column = at
    if line == statement.line:
        return column - statement.column
    newline = -1
    for _ in range(line - statement.line):
        newline = statement.text.index("\n", newline + 1)
    return newline + column
