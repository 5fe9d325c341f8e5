"""SQL script text -> statements: statement splitting, COPY data blocks, psql meta-commands, error positions.

Statements are found by PostgreSQL's own scanner through pglast, never by pattern matching. Scripts are read as
lines and split in batches of about 64 KiB, so a file of any size streams. Pure: no files, no database.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan, split

from .copydata import CopyData as CopyData  # re-exported: part of what iter_statements yields
from .copydata import RawSource, copy_data

_BATCH = 64 * 1024  # characters; one scanner call per batch, not per line
_SPACE = " \t\n\r\f\v"  # the scanner's whitespace; str.strip() also strips characters the scanner reads as tokens
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_SKIPPED = _COMMENTS | {"ASCII_59"}  # ';'

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WIDE_TAG = re.compile(r"\$[^$\s]*[^\x00-\x7f][^$\s]*\$")
_ATOMIC = re.compile("atomic", re.IGNORECASE)
# Lines starting with a backslash, psql meta-commands unless in a quote (see _Splitter.run). Not re.MULTILINE's
# '^': a pattern that starts with a literal is searched for many times faster.
_META = re.compile(r"\n[ \t\r\f\v]*\\")
_META_FIRST = re.compile(r"[ \t\r\f\v]*\\")
_Tokens = tuple[list[int], list[int], int]  # starts, ends (inclusive), where the scan stopped knowing
_T = TypeVar("_T")


@dataclass(frozen=True)
class Statement:
    """One statement as sent: its first token to before its ';'. ``line`` and ``column`` (1-based, in characters)
    locate it in the script; ``copy`` marks ``COPY ... FROM STDIN``, whose :class:`CopyData` items follow it."""

    text: str
    line: int
    column: int
    copy: bool = False


@dataclass(frozen=True)
class MetaCommand:
    """A psql meta-command: a line whose first non-blank character is a backslash, outside quotes, dollar quotes,
    comments and COPY data, such as ``\\connect db``, ``\\i file.sql``, ``\\set x 1``, or the ``\\restrict KEY`` and
    ``\\unrestrict KEY`` lines that pg_dump writes since 17.6 and 16.10. Only psql can run it, so it is never part of
    a :class:`Statement`. ``text`` is the line without surrounding blanks; ``line`` is its 1-based number."""

    text: str
    line: int

    @property
    def command(self) -> str:
        """The command's name with its backslash (``\\connect``), without its arguments."""
        return self.text.split(None, 1)[0]


Item = Statement | CopyData | MetaCommand


def iter_statements(lines: Iterable[str]) -> Iterator[Item]:
    """Statements of a script given as lines (each ending in ``\\n`` except maybe the last), lazily.

    After a statement with ``copy=True`` come the data lines up to (not including) the line that is exactly
    ``\\.``, in :class:`CopyData` chunks; the script goes on after that line. Data that runs to the end of the
    script simply ends there. Text after a COPY statement's ``;`` on its own line runs after the data, as in psql.
    Syntax errors are left for the server to report: such text still comes out as a statement.

    A psql meta-command line comes out as a :class:`MetaCommand`, in its place; it also ends a statement left open
    before it (psql would keep that text in its query buffer), which comes out right after the MetaCommand, so
    that a consumer stopping at the MetaCommand never sends it.
    """
    source = iter(lines)
    ahead: list[str] = []  # lines the splitter read past a COPY statement's line, last first
    splitter = _Splitter()

    def read() -> str | None:
        return ahead.pop() if ahead else next(source, None)

    while True:
        line = read()
        found = splitter.run(final=True) if line is None else splitter.feed(line)
        yield from found
        if found and isinstance(found[-1], Statement) and found[-1].copy:
            rest, more, number = splitter.take_rest()
            ahead.extend(reversed(io.StringIO(more).readlines()))
            number = yield from copy_data(read, ahead, lines if isinstance(lines, RawSource) else None, number)
            splitter.resume(rest, number + 1)
        elif line is None:
            return


def split_statements(sql: str) -> list[Statement]:
    """All statements of an in-memory script, as :func:`iter_statements` finds them (COPY data and psql
    meta-commands are left out)."""
    return [item for item in iter_statements(io.StringIO(sql)) if isinstance(item, Statement)]


def locate(statement: Statement, position: int) -> tuple[int, int]:
    """(line, column) in the script of the 1-based character ``position`` in ``statement.text``, as the server
    reports it in an error's ``statement_position``. Positions past either end are clamped to the text."""
    index = min(max(position, 1), len(statement.text) + 1) - 1
    newlines = statement.text.count("\n", 0, index)
    if not newlines:
        return statement.line, statement.column + index
    return statement.line + newlines, index - statement.text.rfind("\n", 0, index)


class _Splitter:
    """Finds statements in text fed line by line. Each batch is split from a statement boundary, because the
    scanner's splitter cannot be told that a text starts inside parentheses or a BEGIN ATOMIC body; an open
    statement is carried over and split again once the text has doubled, which keeps the work linear."""

    def __init__(self) -> None:
        self.text = io.StringIO()  # text not yet split, from a statement boundary (a StringIO packs lines tightly)
        self.size = 0
        self.need = _BATCH
        self.line, self.column, self.rel = 1, 1, 0  # cursor: offset `rel` of the current text is at line:column
        self.jump: tuple[int, int] | None = None  # (offset, line): COPY data was skipped at that offset
        self.rest = ""  # text after a COPY ... FROM STDIN statement's ';'

    def feed(self, line: str) -> list[Statement | MetaCommand]:
        self.size += self.text.write(line)
        return self.run(final=False) if self.size >= self.need else []

    def run(self, final: bool) -> list[Statement | MetaCommand]:
        text, self.text, self.size, self.rel = self.text.getvalue(), io.StringIO(), 0, 0
        found: list[Statement | MetaCommand] = []
        begin = 0
        quoted: _Tokens | None = None  # of the text from a quote holding a backslash line: its other ones are text
        # A meta-command line ends the text before it, split on its own (which tells whether the line is in a
        # quote). The text may start mid-line: an open statement carried over, the rest of a COPY line.
        at = _next_meta(text, 0 if self.column == 1 else 1)
        while at >= 0:
            inside = False if quoted is None else _inside(quoted, at)
            if inside is None:  # in a quote that runs on past this text, or past a malformed token
                break
            if inside:
                at = _next_meta(text, at + 1)
                continue
            copy, open_at, safe = self.split(text, begin, at, found)
            if copy:  # the line is COPY data, or comes after it: it is read again after the data
                return found
            if safe < at:  # in a string, quoted identifier or comment: text, not a command
                begin, quoted = safe if open_at is None else open_at, _tokens(text, safe)
                at = _next_meta(text, at + 1)
                continue
            end = text.find("\n", at) + 1 or len(text)
            tail = None if open_at is None else dataclasses.replace(self.statement(text, open_at, at), copy=False)
            self.move(text, at)
            found.append(MetaCommand(text[at:end].strip(_SPACE), self.line))
            found.extend([tail] if tail else [])
            begin, quoted = end, None
            at = _next_meta(text, end)
        copy, open_at, _ = self.split(text, begin, len(text), found)
        if copy:
            return found
        if final:
            if open_at is not None:
                found.append(self.statement(text, open_at, len(text)))
            return found
        self.move(text, len(text) if open_at is None else open_at)
        if self.jump:
            self.jump = (self.jump[0] - self.rel, self.jump[1])
        if open_at is not None:  # the open statement is split again with the next batch, or once it has doubled
            self.size = self.text.write(text[open_at:])
        self.need = max(_BATCH, 2 * self.size)
        return found

    def split(
        self, text: str, begin: int, end: int, found: list[Statement | MetaCommand]
    ) -> tuple[bool, int | None, int]:
        """Append the statements of text[begin:end], which starts at a statement boundary, to ``found``. Returns
        whether a COPY ... FROM STDIN statement ended them (its data follows), where a statement left open at
        ``end`` starts, and where a quote or comment still open at ``end`` starts (``end`` when there is none)."""
        pieces, safe = _split(text[begin:end])
        if begin:
            pieces = [(start + begin, semi + begin if semi >= 0 else -1) for start, semi in pieces]
            safe += begin
        pos, index, open_at = begin, 0, None  # pos: just after the last ';' that ended a statement
        while index < len(pieces):
            start, semi = pieces[index]
            if (junk := _first(text, pos, start)) is not None:  # skipped by the splitter; the server must see it
                found.append(self.statement(text, junk, pos + len(text[pos:start].rstrip(_SPACE + ";"))))
            index += 1
            # BEGIN ATOMIC bodies exist only in CREATE [OR REPLACE] FUNCTION/PROCEDURE: look no further in others
            # (a seed's INSERT of 100 kB would be searched in vain).
            creates = _keyword(text, start, semi) in ("CREATE", None)
            if semi >= 0 and creates and _ATOMIC.search(text, start, semi):  # its ';' end statements inside it
                depth = _depth(text[start:semi], 0)
                while depth and index < len(pieces) and pieces[index][1] >= 0:
                    depth = _depth(text[semi + 1 : pieces[index][1]], depth)
                    semi, index = pieces[index][1], index + 1
                semi = -1 if depth else semi
            if semi < 0:
                open_at = start
                break
            statement = self.statement(text, start, semi)
            found.append(statement)
            pos = semi + 1
            if statement.copy:
                self.move(text, pos)
                self.rest, self.need = text[pos:], _BATCH
                return True, None, end
        if open_at is None:
            open_at = _first(text, pos, safe)
            open_at = safe if open_at is None and safe < end else open_at
        return False, open_at, safe

    def statement(self, text: str, start: int, end: int) -> Statement:
        if text.startswith(("--", "/*"), start):
            start = _first(text, start, end) or start
        self.move(text, start)
        sql = text[start:end].rstrip(_SPACE)
        return Statement(sql, self.line, self.column, copy=_is_copy_in(sql))

    def move(self, text: str, to: int) -> None:
        if self.jump and self.rel <= self.jump[0] <= to:
            (at, line), self.jump = self.jump, None
            self.move(text, at)
            self.line, self.column = line, 1
        newlines = text.count("\n", self.rel, to)
        if newlines:
            self.line += newlines
            self.column = to - text.rfind("\n", self.rel, to)
        else:
            self.column += to - self.rel
        self.rel = to

    def take_rest(self) -> tuple[str, str, int]:
        """The rest of the COPY statement's line, the text read after that line, and the data's first line."""
        (rest, self.rest), (jump, self.jump) = (self.rest, ""), (self.jump, None)
        cut = rest.find("\n") + 1 or len(rest)
        return rest[:cut], rest[cut:], jump[1] if jump else self.line + 1

    def resume(self, rest: str, line: int) -> None:
        """Go on with the rest of a COPY statement's line, then with ``line``, the one after its data."""
        self.size, self.jump = self.text.write(rest), (len(rest), line)


def _lex(run: Callable[[str], _T], text: str) -> tuple[_T, int]:
    """run(text) on an ASCII copy of text, and where a malformed token (or the quote holding it) starts, else
    len(text); raises ParseError only for an unterminated quote or comment."""
    # pglast maps byte offsets to characters in time proportional to the number of multi-byte characters, per
    # token; any non-ASCII character lexes like '_' (inside identifiers, dollar-quote tags, quotes and comments).
    folded = text if text.isascii() or _WIDE_TAG.search(text) else _NON_ASCII.sub("_", text)
    bad = len(folded)
    while True:  # at most three runs: a bad escape blanked out can leave its quote unterminated
        try:
            return run(folded[:bad] + " " * (len(folded) - bad)), bad
        except ParseError as exc:
            if bad == len(folded) and str(exc.args[0]).startswith("unterminated"):
                raise
            # Everything from a malformed token such as 1abc on is left to the server to report; blanking just the
            # token would cost a pass per bad token, and COPY data read as SQL can hold thousands.
            bad = _where(exc)


def _where(exc: ParseError) -> int:
    where = exc.args[1] if len(exc.args) > 1 else None
    if not isinstance(where, int):
        raise exc
    return where


def _split(text: str) -> tuple[list[tuple[int, int]], int]:
    """Statements of text as (start, offset of the terminating ';' or -1), and where an unterminated quote or
    comment starts (len(text) when there is none). Statements without a keyword are skipped (see _junk)."""
    safe = len(text)
    while True:
        try:
            (found, folded), _ = _lex(lambda s: (split(s, with_parser=False, only_slices=True), s), text[:safe])
            break
        except ParseError as exc:
            safe = _where(exc)
    pieces = []
    for piece in found:
        start, stop = piece.start, piece.stop
        while start and folded[start - 1].isspace() and folded[start - 1] not in _SPACE:
            start -= 1
        while stop < safe and folded[stop].isspace():
            stop += 1
        pieces.append((start, stop if stop < safe and folded[stop] == ";" else -1))
    return pieces, safe


_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*(?:[^*/]|\*(?!/)|/(?!\*))*\*/)*([A-Za-z]*)")


def _keyword(text: str, start: int, end: int) -> str | None:
    """The first word of text[start:end] after blanks and comments, in upper case; None when a nested block
    comment (which the pattern does not follow) hides it."""
    match = _LEADING.match(text, start, end if end >= 0 else len(text))
    if match is None or (not match[1] and text.startswith("/*", match.end())):
        return None
    return match[1].upper()


def _first(text: str, start: int, end: int) -> int | None:
    """Offset of the first token other than comments and ';' in text[start:end], or None; scans a few lines at a
    time. Between the statements the scanner's splitter finds, such tokens are statements without a keyword: it
    skips them, and the server will reject them."""
    size = 256
    while text[start:end].strip(_SPACE + ";"):
        stop = text.find("\n", start + size, end) + 1 or end
        try:
            tokens, bad = _lex(scan, text[start:stop])
        except ParseError as exc:  # a quote or a comment runs on past `stop`
            bad = _where(exc)
            tokens = _lex(scan, text[start : start + bad])[0]
            bad = len(text) if stop < end and text.startswith("/*", start + bad) else bad
        first = next((t.start for t in tokens if t.name not in _SKIPPED), bad if bad < stop - start else None)
        if first is not None or stop >= end:
            return None if first is None else start + first
        size *= 8
    return None


def _next_meta(text: str, pos: int) -> int:
    """Offset of the backslash that starts the first line at or after ``pos`` whose first non-blank character is a
    backslash (offset 0 counts as the start of a line), or -1. Only a candidate: it may be in a quote."""
    if pos == 0 and (match := _META_FIRST.match(text)):
        return match.end() - 1
    match = _META.search(text, max(pos - 1, 0))
    return -1 if match is None else match.end() - 1


def _inside(tokens: _Tokens, at: int) -> bool | None:
    """Whether offset ``at`` is inside one of ``tokens`` (a string, quoted identifier or comment); None when the
    scan behind them could not tell."""
    starts, ends, known = tokens
    if at >= known:
        return None
    i = bisect.bisect_right(starts, at) - 1
    return i >= 0 and starts[i] < at <= ends[i]


def _tokens(text: str, base: int) -> _Tokens:
    """Start and end (inclusive) offsets of the tokens of text[base:], and the offset from which the scanner
    cannot tell what is quoted (an unterminated quote or comment, or a malformed token), else len(text)."""
    part = text[base:]
    try:
        tokens, bad = _lex(scan, part)
    except ParseError as exc:
        tokens, bad = _lex(scan, part[: _where(exc)])
    return [base + t.start for t in tokens], [base + t.end for t in tokens], base + bad


def _depth(text: str, depth: int) -> int:
    """BEGIN ATOMIC nesting after text, from ``depth`` before it; inside a body, CASE ... END nests too."""
    names = [t.name for t in _lex(scan, text)[0] if t.name not in _COMMENTS]
    for i, name in enumerate(names):
        if (name == "BEGIN_P" and names[i + 1 : i + 2] == ["ATOMIC"]) or (depth and name == "CASE"):
            depth += 1
        elif depth and name == "END_P":
            depth -= 1
    return depth


def _is_copy_in(sql: str) -> bool:
    if sql[:4].lower() != "copy":
        return False
    try:
        stmt = parse_sql(sql)[0].stmt
    except ParseError:
        return False
    return isinstance(stmt, ast.CopyStmt) and bool(stmt.is_from) and stmt.filename is None
