"""PostgreSQL's scanner (through pglast) over any text, for the splitter in :mod:`sqlmig.sqltext`.

Every call ends, whatever the text: the scanner stops at the first malformed token, and the text is blanked from
there (strictly more on every retry) until the rest scans. What was blanked is left for the server to report. Pure:
no files, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan, split

SPACE = " \t\n\r\f\v"  # the scanner's whitespace; str.strip() also strips characters the scanner reads as tokens
COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_SKIPPED = COMMENTS | {"ASCII_59"}  # ';'

# NUL too: pglast hands the scanner a C string, which would end at it and hide the rest of the text.
_NON_ASCII = re.compile(r"[^\x01-\x7f]")
_WIDE_TAG = re.compile(r"\$[^$\s]*[^\x00-\x7f][^$\s]*\$")
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")  # cannot reach the scanner as UTF-8 (NUL: see above)
_SURROGATE_SHIFT = 0xF0000 - 0xD800  # lone surrogates -> private use plane 15, one for one
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*(?:[^*/]|\*(?!/)|/(?!\*))*\*/)*([A-Za-z]*)")
_T = TypeVar("_T")


def lex(run: Callable[[str], _T], text: str) -> tuple[_T, int, int]:
    """run(text) on a copy of text that the scanner reads to its end: non-ASCII folded (see :func:`fold`) and
    blanked from the first malformed token (or the quote holding it). Returns run's result, where the blanking
    starts (else len(text)), and where a quote or comment that runs past the end of text starts (else len(text)).
    Raises ParseError only if the scanner rejects a text of blanks."""
    folded = fold(text)
    bad = opened = len(folded)
    # Each retry blanks strictly more of the text (see _cut), and blanks alone always scan: the loop ends.
    while True:
        try:
            return run(folded[:bad] + " " * (len(folded) - bad)), bad, opened
        except ParseError as exc:
            if not bad:  # blanks alone failed: nothing is left to blank, so the error goes up
                raise
            cut = _cut(folded, bad, exc)
            # Only on the first run: a bad escape blanked out can leave its quote unterminated, which is not a
            # quote running on past the text.
            if bad == len(folded) and str(exc.args[0]).startswith("unterminated"):
                opened = cut
            # Everything from a malformed token such as 1abc on is left to the server to report; blanking just the
            # token would cost a pass per bad token, and COPY data read as SQL can hold thousands.
            bad = cut


def fold(text: str) -> str:
    """A copy of text, character for character, that the scanner reads as it reads text itself.

    pglast maps byte offsets to characters in time proportional to the number of multi-byte characters, per token,
    so any non-ASCII character becomes '_', which lexes the same inside identifiers, dollar-quote tags, quotes and
    comments; unless a dollar-quote tag holds one, where two tags must stay different. NUL and lone surrogates
    (text decoded with ``surrogateescape``) cannot reach the scanner at all and are always replaced."""
    if text.isascii() and "\x00" not in text:
        return text
    if not _WIDE_TAG.search(text):
        return _NON_ASCII.sub("_", text)
    return _UNENCODABLE.sub(lambda m: "_" if m[0] == "\x00" else chr(ord(m[0]) + _SURROGATE_SHIFT), text)


def _cut(folded: str, limit: int, exc: ParseError) -> int:
    """Where to blank from, strictly before ``limit``, once scanning folded[:limit] (blanked on) raised ``exc``.

    The scanner's position, when it gives one before ``limit``. It gives none for an E'' string whose escapes make
    invalid UTF-8 (checked at its closing quote) or a token cut by the end of the text, and the position just
    past the token for a surrogate pair that the blanking cut. Then the bad token ends where the shortest prefix
    failing the same way ends; cutting before its last character leaves the token unterminated, and the next scan
    gives its start. The prefix is searched for backwards from ``limit``, doubling the step, then by bisection."""
    where = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(where, int) and 0 <= where < limit:
        return where

    def fails(end: int) -> bool:  # the same way as exc
        try:
            split(folded[:end] + " " * (len(folded) - end), with_parser=False, only_slices=True)
        except ParseError as again:
            return bool(again.args[0] == exc.args[0])
        return False

    high, step = limit, 1  # folded[:high] fails as exc does
    while high - step > 0 and fails(high - step):
        high, step = high - step, step * 2
    low = max(high - step, 0)  # folded[:low] does not (or is empty)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if fails(middle) else (middle, high)
    return high - 1


def split_pieces(text: str) -> tuple[list[tuple[int, int]], int]:
    """Statements of text as (start, offset of the terminating ';' or -1), and where an unterminated quote or
    comment starts (len(text) when there is none). Statements without a keyword are skipped (see first_token)."""
    (found, folded), _, safe = lex(lambda s: (split(s, with_parser=False, only_slices=True), s), text)
    pieces = []
    for piece in found:
        start, stop = piece.start, piece.stop
        while start and folded[start - 1].isspace() and folded[start - 1] not in SPACE:
            start -= 1
        while stop < safe and folded[stop].isspace():
            stop += 1
        pieces.append((start, stop if stop < safe and folded[stop] == ";" else -1))
    return pieces, safe


def keyword(text: str, start: int, end: int) -> str | None:
    """The first word of text[start:end] after blanks and comments, in upper case; None when a nested block
    comment (which the pattern does not follow) hides it."""
    match = _LEADING.match(text, start, end if end >= 0 else len(text))
    if match is None or (not match[1] and text.startswith("/*", match.end())):
        return None
    return match[1].upper()


def first_token(text: str, start: int, end: int) -> int | None:
    """Offset of the first token other than comments and ';' in text[start:end], or None; scans a few lines at a
    time. Between the statements the scanner's splitter finds, such tokens are statements without a keyword: it
    skips them, and the server will reject them."""
    size = 256
    while text[start:end].strip(SPACE + ";"):
        stop = text.find("\n", start + size, end) + 1 or end
        tokens, bad, opened = lex(scan, text[start:stop])
        if opened < stop - start and stop < end and text.startswith("/*", start + opened):
            bad = len(text)  # a comment that goes on past `stop`: look further
        first = next((t.start for t in tokens if t.name not in _SKIPPED), bad if bad < stop - start else None)
        if first is not None or stop >= end:
            return None if first is None else start + first
        size *= 8
    return None


class Spans(NamedTuple):
    """Start and end (inclusive) offsets of tokens, and where the scan behind them stopped knowing what is quoted:
    an unterminated quote or comment, or a malformed token. ``more``: scanning further than it did may tell more."""

    base: int
    stop: int
    starts: list[int]
    ends: list[int]
    known: int
    more: bool


def quoted_spans(text: str, base: int, stop: int) -> Spans:
    """The tokens of text[base:stop] (see :class:`Spans`)."""
    tokens, bad, opened = lex(scan, text[base:stop])
    more = stop < len(text) and bad == opened < stop - base  # a quote or comment cut by `stop`, maybe
    return Spans(base, stop, [base + t.start for t in tokens], [base + t.end for t in tokens], base + bad, more)


def atomic_depth(text: str, depth: int) -> int:
    """BEGIN ATOMIC nesting after text, from ``depth`` before it; inside a body, CASE ... END nests too."""
    names = [t.name for t in lex(scan, text)[0] if t.name not in COMMENTS]
    for i, name in enumerate(names):
        if (name == "BEGIN_P" and names[i + 1 : i + 2] == ["ATOMIC"]) or (depth and name == "CASE"):
            depth += 1
        elif depth and name == "END_P":
            depth -= 1
    return depth


def is_copy_in(sql: str) -> bool:
    """Whether sql is one ``COPY ... FROM STDIN`` statement."""
    if sql[:4].lower() != "copy":
        return False
    try:
        stmt = parse_sql(sql)[0].stmt
    except (ParseError, UnicodeError):  # UnicodeError: a lone surrogate, which cannot be sent either
        return False
    return isinstance(stmt, ast.CopyStmt) and bool(stmt.is_from) and stmt.filename is None
