"""COPY ... FROM stdin data in a script: read up to its ``\\.`` line in chunks, line by line or, from a file that
can give its raw bytes, in blocks. Pure: no database; reads only the source it is given.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

CHUNK = 1024 * 1024
# The line that ends COPY data; searched for after a newline (a pattern starting with a literal is found fast).
COPY_END = re.compile(rb"\n\\\.\r?\n")
COPY_END_FIRST = re.compile(rb"\\\.\r?\n")
# The same line read as a line: psql ends the data only at exactly these, and at a last line without its newline.
# A RawSource gives its lines with CRLF as LF, so there "\\.\r\n" stands for "\\.\r\r\n" in the file: data.
_END_LINES = frozenset({"\\.\n", "\\.\r\n", "\\.", "\\.\r"})
_END_LINES_LF = _END_LINES - {"\\.\r\n"}
_END_TAILS = frozenset({b"", b"\\.", b"\\.\r"})


@dataclass(frozen=True)
class CopyData:
    """A chunk of COPY data: whole lines, at most about 1 MiB (a longer line is a chunk of its own), without the
    terminating ``\\.`` line; when read from a file's raw blocks, bytes as they are in the file but with CRLF as
    LF."""

    data: str | bytes


@runtime_checkable
class RawSource(Protocol):
    """Lines of a file (with CRLF as LF) that can also give the bytes that follow as they are: COPY data is then
    read in blocks."""

    def read_raw(self, size: int) -> bytes:
        """Up to ``size`` bytes."""

    def readline_raw(self) -> bytes:
        """The rest of the current line, with its newline."""

    @property
    def skips_data(self) -> bool:
        """Whether the reader needs only to know where COPY data ends, not the data or its line count: a check
        that reads the file before it runs. Line numbers after such data are then too small."""


def copy_data(
    read: Callable[[], str | None], ahead: list[str], raw: RawSource | None, number: int
) -> Generator[CopyData, None, int]:
    """COPY data up to its ``\\.`` line, in chunks; returns the number of the data's last line. The lines the
    splitter read ahead go line by line; from a :class:`RawSource`, the rest goes as bytes in blocks, with no
    Python work per line: a 200 MB seed would otherwise spend more time here than the server spends loading it.
    Text after the ``\\.`` line goes back to ``ahead``."""
    chunk: list[str] = []
    size = 0
    ends = _END_LINES if raw is None else _END_LINES_LF
    while ahead or raw is None:
        data = read()
        if data is None or data in ends:
            if chunk:
                yield CopyData("".join(chunk))
            return number
        number += 1
        if chunk and size + len(data) > CHUNK:
            yield CopyData("".join(chunk))
            chunk, size = [], 0
        chunk.append(data)
        size += len(data)
    if chunk:
        yield CopyData("".join(chunk))
    if raw.skips_data:
        return number + _skip(raw, ahead)
    tail = b""  # an incomplete last line, carried into the next block
    while got := raw.read_raw(CHUNK):
        text = tail + got
        cut = text.rfind(b"\n") + 1
        complete, tail = text[:cut], text[cut:]
        found = _end(complete, 0, len(complete))
        if found:
            end = 0 if found.re is COPY_END_FIRST else found.start() + 1
            if end:
                yield CopyData(_lf(complete[:end]))
            after = (complete[found.end() :] + tail + (raw.readline_raw() if tail else b"")).decode()
            after = after.replace("\r\n", "\n")  # as the lines the splitter reads
            ahead.extend(reversed(io.StringIO(after).readlines()))
            return number + complete.count(b"\n", 0, end)
        if complete:
            yield CopyData(_lf(complete))
            number += complete.count(b"\n")
    if tail not in _END_TAILS:  # data running to the end of the file, without a final newline
        yield CopyData(tail)
        number += 1
    return number


def _end(block: bytes, start: int, stop: int) -> re.Match[bytes] | None:
    """The ``\\.`` line in ``block[start:stop]``, which starts at a line start and ends at a line end. The line holds
    a backslash, which most data has few of: looking for one (memchr) first spares the search of almost every block
    of a seed without backslashes."""
    found = COPY_END_FIRST.match(block, start, stop)
    if found is None and block.find(b"\\", start, stop) >= 0:
        found = COPY_END.search(block, start, stop)
    return found


def _skip(raw: RawSource, ahead: list[str]) -> int:
    """:func:`copy_data` for a reader that :attr:`~RawSource.skips_data`: reads the raw blocks up to the ``\\.``
    line, with no chunks made and no lines counted (0 is returned), and puts the text after it back into
    ``ahead``."""
    tail = b""
    while got := raw.read_raw(CHUNK):
        text = tail + got if tail else got
        cut = text.rfind(b"\n") + 1
        found = _end(text, 0, cut)
        if found:
            end = found.end()
            rest = text[end:] + (raw.readline_raw() if not text.endswith(b"\n") else b"")
            ahead.extend(reversed(io.StringIO(rest.decode().replace("\r\n", "\n")).readlines()))
            return 0
        tail = text[cut:]
    return 0


def _lf(block: bytes) -> bytes:
    """``block`` with CRLF as LF, as in the text the checksum is taken of and a file held in memory runs: the
    server refuses data whose lines end in CRLF after some that end in LF (the lines read ahead). A block always
    ends at a line end, so a CR and its LF are never in two blocks; a block without a CR is not copied."""
    return block.replace(b"\r\n", b"\n") if b"\r" in block else block
