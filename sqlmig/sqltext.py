"""SQL script text -> statements: statement splitting, COPY data blocks, psql meta-commands, error positions.

Statements are found by PostgreSQL's own scanner (see :mod:`sqlmig.sqlscan`), never by pattern matching. Scripts
are read as lines and split in batches of about 64 KiB, so a file of any size streams. Pure: no files, no database.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .copydata import CopyData as CopyData  # re-exported: part of what iter_statements yields
from .copydata import RawSource, copy_data
from .sqlscan import SPACE as _SPACE
from .sqlscan import Spans, atomic_depth, first_token, is_copy_in, keyword, quoted_spans, split_pieces

_BATCH = 64 * 1024  # characters; one scanner call per batch, not per line
# The first batch is smaller: a seed's COPY statement is found before a whole batch of its data has been scanned
# as SQL, and scanned again by every reader (the check before the file runs, then the run).
_FIRST_BATCH = 4 * 1024
_ATOMIC = re.compile("atomic", re.IGNORECASE)
# Lines starting with a backslash, psql meta-commands unless in a quote (see _Splitter.run). Not re.MULTILINE's
# '^': a pattern that starts with a literal is searched for many times faster.
_META = re.compile(r"\n[ \t\r\f\v]*\\")
_META_FIRST = re.compile(r"[ \t\r\f\v]*\\")


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


# Everything the splitter yields.
Item = Statement | CopyData | MetaCommand
# What the runner sends: statements and COPY data (a file with a meta-command is refused before anything runs).
Runnable = Statement | CopyData


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
        self.need = min(_FIRST_BATCH, _BATCH)
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
        quoted: Spans | None = None  # of the text from a quote holding a backslash line: its other ones are text
        # A meta-command line ends the text before it, split on its own (which tells whether the line is in a
        # quote). The text may start mid-line: an open statement carried over, the rest of a COPY line.
        at = _next_meta(text, 0 if self.column == 1 else 1)
        while at >= 0:
            inside = False if quoted is None else _inside(quoted, at)
            if inside is None and quoted is not None and quoted.more:  # scanned not far enough to tell
                quoted = _quoted(text, quoted.base, at, quoted.stop)
                continue
            if inside is None:  # in a quote that runs on past this text, or past a malformed token
                break
            if inside:
                at = _next_meta(text, at + 1)
                continue
            copy, open_at, safe = self.split(text, begin, at, found)
            if copy:  # the line is COPY data, or comes after it: it is read again after the data
                return found
            if safe < at:  # in a string, quoted identifier or comment: text, not a command
                begin, quoted = safe if open_at is None else open_at, _quoted(text, safe, at)
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
        pieces, safe = split_pieces(text[begin:end])
        if begin:
            pieces = [(start + begin, semi + begin if semi >= 0 else -1) for start, semi in pieces]
            safe += begin
        pos, index, open_at = begin, 0, None  # pos: just after the last ';' that ended a statement
        while index < len(pieces):
            start, semi = pieces[index]
            if (junk := first_token(text, pos, start)) is not None:  # skipped by the splitter; the server must see it
                found.append(self.statement(text, junk, pos + len(text[pos:start].rstrip(_SPACE + ";"))))
            index += 1
            # BEGIN ATOMIC bodies exist only in CREATE [OR REPLACE] FUNCTION/PROCEDURE: look no further in others
            # (a seed's INSERT of 100 kB would be searched in vain).
            creates = keyword(text, start, semi) in ("CREATE", None)
            if semi >= 0 and creates and _ATOMIC.search(text, start, semi):  # its ';' end statements inside it
                depth = atomic_depth(text[start:semi], 0)
                while depth and index < len(pieces) and pieces[index][1] >= 0:
                    depth = atomic_depth(text[semi + 1 : pieces[index][1]], depth)
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
            open_at = first_token(text, pos, safe)
            open_at = safe if open_at is None and safe < end else open_at
        return False, open_at, safe

    def statement(self, text: str, start: int, end: int) -> Statement:
        if text.startswith(("--", "/*"), start):
            start = first_token(text, start, end) or start
        self.move(text, start)
        sql = text[start:end].rstrip(_SPACE)
        return Statement(sql, self.line, self.column, copy=is_copy_in(sql))

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


def _next_meta(text: str, pos: int) -> int:
    """Offset of the backslash that starts the first line at or after ``pos`` whose first non-blank character is a
    backslash (offset 0 counts as the start of a line), or -1. Only a candidate: it may be in a quote."""
    if pos == 0 and (match := _META_FIRST.match(text)):
        return match.end() - 1
    match = _META.search(text, max(pos - 1, 0))
    return -1 if match is None else match.end() - 1


def _quoted(text: str, base: int, at: int, scanned: int = 0) -> Spans:
    """The tokens of text from ``base`` (a quote's start) to a line end past ``at``, twice as far from ``base``,
    and four times as far as an earlier scan that reached ``scanned``: a quote holding many backslash lines is
    scanned a few times in all, not once per line, and each of many quotes only about as far as its own lines."""
    reach = max(at - base, 4096, 4 * (scanned - base))
    stop = text.find("\n", at + reach) + 1 or len(text)
    return quoted_spans(text, base, stop)


def _inside(spans: Spans, at: int) -> bool | None:
    """Whether offset ``at`` is inside one of the tokens of ``spans`` (a string, quoted identifier or comment);
    None when the scan behind them could not tell."""
    if at >= spans.known:
        return None
    i = bisect.bisect_right(spans.starts, at) - 1
    return i >= 0 and spans.starts[i] < at <= spans.ends[i]
