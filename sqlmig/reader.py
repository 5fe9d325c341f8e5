"""Reading a migration's text at run time, held to the checksum discovery found.

The checksum recorded for a migration is that of exactly the text that ran. A file held in memory is read again
once the lock is held (:func:`read_checked`) and must still have its checksum. A file too large to hold in memory
is read while its statements run; hashing it again would cost as much as discovery did, so it is held instead to
the file discovery hashed: the same device, inode, size and modification and change times when it is opened and
when its last statement has run, before the history row is written (:func:`open_streamed`,
:func:`check_unchanged`). A file edited between discovery and the end of its run is refused, not recorded under a
checksum it does not have.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import DiscoveryError, FileProblem
from .files import stamp
from .model import SqlFile

_BOM = b"\xef\xbb\xbf"


class RawLines:
    """A UTF-8 file opened in binary mode, as :func:`~sqlmig.sqltext.iter_statements` reads it: iterating gives
    its lines decoded, without a BOM and with CRLF as LF (as ``open(..., encoding="utf-8-sig", newline=None)``
    would), and ``read_raw(size)`` and ``readline_raw()`` give the raw bytes that follow, for COPY data. With
    ``skips_data``, the splitter passes over COPY data without making chunks of it or counting its lines (see
    :attr:`sqlmig.copydata.RawSource.skips_data`)."""

    def __init__(self, fh: BinaryIO, *, skips_data: bool = False) -> None:
        self._fh = fh
        self._first = True
        self.skips_data = skips_data

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._fh.readline()
        if not line:
            raise StopIteration
        if self._first:
            self._first = False
            line = line.removeprefix(_BOM)
        text = line.decode()
        return text[:-2] + "\n" if text.endswith("\r\n") else text

    def read_raw(self, size: int) -> bytes:
        """Up to ``size`` bytes as they are in the file."""
        return self._fh.read(size)

    def readline_raw(self) -> bytes:
        """The rest of the current line as it is in the file."""
        return self._fh.readline()


def open_streamed(source: SqlFile) -> BinaryIO:
    """Open a file that is streamed as it runs, provided it is still the file discovery checksummed (see
    :func:`check_unchanged`). Raises :class:`DiscoveryError` otherwise."""
    try:
        fh = open(source.path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise changed(source, exc) from exc
    try:
        check_unchanged(source, fh)
    except DiscoveryError:
        fh.close()
        raise
    return fh


def check_unchanged(source: SqlFile, fh: BinaryIO) -> None:
    """Raise :class:`DiscoveryError` unless the open file ``fh`` is, by its device, inode, size and modification
    and change times, the one whose checksum discovery computed: a second pass over a seed of hundreds of MB to
    hash it again would cost as much as discovery did, and an edit changes those times."""
    if source.stamp is not None and stamp(os.fstat(fh.fileno())) != source.stamp:
        raise changed(source)


def read_text(path: Path) -> str:
    """The text of a migration file as executed: UTF-8, BOM stripped, CRLF normalised to LF (exactly the text
    whose SHA-256 is the file's checksum)."""
    with open(path, "rb") as fh:
        return _normalised(fh.read()).decode()


def read_checked(source: SqlFile) -> str:
    """The text of ``source`` as executed, read again at run time, provided it is still the text discovery
    checksummed: the checksum recorded for a migration is that of exactly the text that ran. Raises
    :class:`DiscoveryError` when the file changed, vanished or became unreadable since it was discovered."""
    try:
        with open(source.path, "rb") as fh:
            data = _normalised(fh.read())
    except OSError as exc:
        raise changed(source, exc) from exc
    if hashlib.sha256(data).hexdigest() != source.checksum:
        raise changed(source)
    try:
        return data.decode()
    except UnicodeDecodeError as exc:  # the same bytes passed discovery: only a race could get here
        raise changed(source) from exc


def changed(source: SqlFile, exc: OSError | None = None) -> DiscoveryError:
    """The error for a file that was edited (or, with ``exc``, deleted or made unreadable) between discovery and
    execution, before any of it ran."""
    if exc is None:
        why = "was edited"
    else:
        why = "was deleted" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
    return DiscoveryError(
        [
            FileProblem(
                source.path,
                0,
                f"{why} while sqlmig was running; it changed between discovery and execution, so nothing of it was "
                "applied. Run again once the file is as it should be",
            )
        ]
    )


def _normalised(data: bytes) -> bytes:
    data = data.removeprefix(_BOM)
    return data.replace(b"\r\n", b"\n") if b"\r" in data else data
