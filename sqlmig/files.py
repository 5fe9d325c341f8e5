"""Discovery of migration files: naming rule, up/down pairing, directives (``-- sqlmig: …``) and checksums.

Pure apart from reading files. Every problem found is collected, so one run lists every offending file.
"""

from __future__ import annotations

import codecs
import dataclasses
import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .directives import KNOWN_DIRECTIVES as KNOWN_DIRECTIVES
from .directives import VALUED_DIRECTIVES as VALUED_DIRECTIVES
from .directives import read_directives
from .errors import DiscoveryError, FileProblem
from .model import TRACKS, MigrationFile, SqlFile, Track, version_of
from .naming import NAME_RE, NAMING_RULE, name_clashes

_BOM = codecs.BOM_UTF8
_CHUNK = 1 << 20
_TEMPLATE_MARKER = re.compile(rb"\{[{%#]")  # {{, {% or {#: one pass over the file instead of three
# Also what :mod:`sqlmig.checks` says of rendered text; defined here so that discovery does not load the parser.
NUL_MESSAGE = "contains a NUL byte (\\0), which would end the SQL sent to the server there and cut the migration short"
NUL_ADVICE = "remove it; write binary data as a bytea literal such as '\\x00'::bytea"
_NUL = f"{NUL_MESSAGE}: {NUL_ADVICE}"
_READ_HINT = "check its permissions: the user running sqlmig must be able to read it"
# Said of the folder looked for, the problem's path (absolute once resolved by :mod:`sqlmig.config`), to any
# caller of the library; the CLI says --dir instead of the directory argument (:func:`sqlmig.cli.options.cli_wording`).
MISSING_FOLDER = (
    "migrations folder not found: pass the folder that holds migrate/ and seed/ as the directory argument or as "
    "directory in [tool.sqlmig], or create this one"
)


def discover(directory: Path, track: Track) -> list[MigrationFile]:
    """The migrations of one track, found in ``directory/<track>/``, in version order.

    A missing track folder means no migrations. Raises :class:`DiscoveryError` listing every file that does not fit
    the naming rule, every duplicate version, every down file without an up file, every name the other track uses
    too, every unknown directive, every file that is not valid UTF-8 or cannot be read, and every symlink that leads
    out of ``directory`` (the file would change without the folder changing). Reads files; writes nothing.
    """
    return discover_tracks(directory, (track,))[track]


def discover_tracks(directory: Path, tracks: tuple[Track, ...] = TRACKS) -> dict[Track, list[MigrationFile]]:
    """:func:`discover` for several tracks at once, collecting the problems of all of them into one error."""
    if not directory.is_dir():
        raise DiscoveryError([FileProblem(directory, 0, MISSING_FOLDER)])
    problems: list[FileProblem] = []
    root = directory.resolve()
    found = {track: _discover_track(directory / track, track, root, problems) for track in tracks}
    problems += name_clashes(directory, found)
    if problems:
        raise DiscoveryError(problems)
    return found


def _discover_track(folder: Path, track: Track, root: Path, problems: list[FileProblem]) -> list[MigrationFile]:
    ups: dict[str, os.DirEntry[str]] = {}
    downs: dict[str, os.DirEntry[str]] = {}
    for entry in _sql_files(folder, problems):
        m = NAME_RE.match(entry.name)
        if m is None:
            problems.append(FileProblem(Path(entry.path), 0, f"file name does not fit the naming rule: {NAMING_RULE}"))
            continue
        name = entry.name[: m.start("kind") - 1]
        (ups if m["kind"] == "up" else downs)[name] = entry

    for name in sorted(downs.keys() - ups.keys()):
        problems.append(
            FileProblem(
                Path(downs[name].path),
                0,
                f"down file has no up file (expected {name}.up.sql): add it, or delete this file",
            )
        )

    by_version: dict[str, list[str]] = {}
    for name in ups:
        by_version.setdefault(version_of(name), []).append(name)
    for version, names in sorted(by_version.items()):
        if len(names) > 1:
            for name in sorted(names):
                others = ", ".join(n for n in sorted(names) if n != name)
                why = f"duplicate version {version} (also used by {others}): give one of them a newer timestamp"
                problems.append(FileProblem(Path(ups[name].path), 0, why))

    result = []
    for name in sorted(ups, key=lambda n: (version_of(n), n)):
        up = _read(ups[name], folder, root, problems)
        down = _read(downs[name], folder, root, problems) if name in downs else None
        if up is not None and (name not in downs or down is not None):
            result.append(MigrationFile(track=track, version=version_of(name), name=name, up=up, down=down))
    return result


def _sql_files(folder: Path, problems: list[FileProblem]) -> Iterator[os.DirEntry[str]]:
    """Every ``.sql`` entry of ``folder`` except hidden ones, by name: also dangling symlinks, directories and
    files that cannot be read, so that none is skipped silently (:func:`_read` says what is wrong with them)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    except OSError as exc:
        problems.append(FileProblem(folder, 0, f"cannot read folder: {exc.strerror or exc}; check its permissions"))
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.endswith(".sql") and not entry.name.startswith("."):
            yield entry


def _read(entry: os.DirEntry[str], folder: Path, root: Path, problems: list[FileProblem]) -> SqlFile | None:
    """:func:`scan_file` for a file that discovery found, once it is known to be a regular file inside the
    migrations folder ``root``."""
    path = _child(folder, entry.name)
    why = _unusable(entry, path, root)
    if why is None:
        return scan_file(path, problems, entry.path)
    problems.append(FileProblem(path, 0, why))
    return None


def _unusable(entry: os.DirEntry[str], path: Path, root: Path) -> str | None:
    """Why ``path`` cannot be read as a migration, or None. A symlink may point anywhere inside ``root`` (the
    migrations folder, resolved), but not out of it."""
    # The directory listing already says what a plain file is: the common case costs no system call here.
    if entry.is_file(follow_symlinks=False):
        return None
    link = entry.is_symlink()
    if link:
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(root):
            return f"symlink points outside the migrations folder (-> {target}); copy the file in instead"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if link and exc.errno == errno.ENOENT:
            return (
                f"cannot read file: broken symlink (-> {os.readlink(path)}); point it at an existing file, or delete it"
            )
        return f"cannot read file: {exc.strerror or exc}; {_READ_HINT}"
    if stat.S_ISDIR(mode):
        return "is a directory, not a migration file: rename it so that it does not end in .sql"
    if not stat.S_ISREG(mode):  # a FIFO or a device: reading it could block forever
        return "not a regular file: a migration must be a plain file"
    return None


def _child(folder: Path, name: str) -> Path:
    # pathlib's own fast path for a name known to be a single component (what Path.iterdir uses): a project's
    # thousands of files would otherwise spend more time parsing paths than reading them.
    make = getattr(folder, "_make_child_relpath", None)
    return make(name) if make is not None else folder / name


def scan_file(path: Path, problems: list[FileProblem], location: str | None = None) -> SqlFile | None:
    """Checksum, directives and template detection of one file, read once in chunks (large seeds stream).

    The checksum is SHA-256 of the text with a UTF-8 BOM stripped and CRLF normalised to LF. Problems are
    appended to ``problems`` and None is returned for a file that cannot be used. ``location`` is ``path`` as a
    string, when the caller has it.
    """
    try:
        with open(location or path, "rb") as fh:
            # Small files (the common case) are read whole: reading them into a 1 MiB buffer costs more than
            # reading them.
            before = os.fstat(fh.fileno())
            small = before.st_size < _CHUNK
            chunk = fh.read() if small else fh.read(_CHUNK)
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
            if small:
                return _scan_small(path, chunk, problems)
            found = _scan_large(path, fh, chunk, problems)
            if found is None:
                return None
            if stamp(before) != stamp(after := os.fstat(fh.fileno())):
                problems.append(FileProblem(path, 0, "was written to while sqlmig read it: run again once it is saved"))
                return None
            return dataclasses.replace(found, stamp=stamp(after))
    except OSError as exc:
        problems.append(FileProblem(path, 0, f"cannot read file: {exc.strerror or exc}; {_READ_HINT}"))
        return None


def stamp(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's content does: device, inode, size, modification and change times."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _scan_small(path: Path, data: bytes, problems: list[FileProblem]) -> SqlFile | None:
    size = len(data)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        bad_line = 1 + data[: exc.start].count(b"\n")
        problems.append(FileProblem(path, bad_line, "not valid UTF-8 (save the file as UTF-8)"))
        return None
    if (nul := data.find(b"\0")) >= 0:
        problems.append(FileProblem(path, 1 + data.count(b"\n", 0, nul), _NUL))
        return None
    templated = _marked(data)
    return _sql_file(path, text[:8192], hashlib.sha256(data).hexdigest(), templated, size, problems)


def _scan_large(path: Path, fh: BinaryIO, chunk: bytes, problems: list[FileProblem]) -> SqlFile | None:
    """:func:`scan_file` in chunks, for files of a MiB or more. A bulk seed is read here once in full before it
    runs, so each chunk gets as few passes as possible: an ASCII chunk needs no decoding to be valid UTF-8, and
    lines are counted only to report an error."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    templated = False
    head = ""
    size = 0
    done = 0  # bytes of normalised text before this chunk
    pending_cr = b""
    tail = b""
    while chunk:
        size += len(chunk)
        data = pending_cr + chunk
        # A CR at the end of a chunk may be the first half of a CRLF split across two reads.
        pending_cr = b"\r" if data.endswith(b"\r") else b""
        data = data[:-1] if pending_cr else data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        digest.update(data)
        if (nul := data.find(b"\0")) >= 0:  # memchr: no cost worth measuring
            problems.append(FileProblem(path, 1 + _lines_before(path, done + nul), _NUL))
            return None
        held = decoder.getstate()[0]  # the start of a character split across chunks
        if len(head) < 8192 or held or not data.isascii():
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError as exc:  # exc.start counts from the held bytes
                bad_line = 1 + _lines_before(path, done - len(held) + exc.start)
                problems.append(FileProblem(path, bad_line, "not valid UTF-8 (save the file as UTF-8)"))
                return None
            if len(head) < 8192:
                head += text[:8192]
        # A marker split across two chunks is found in the last byte of one and the first of the next.
        templated = templated or _TEMPLATE_MARKER.search(tail + data[:1]) is not None
        templated = templated or _marked(data)
        tail = data[-1:]
        done += len(data)
        chunk = fh.read(_CHUNK)
    digest.update(pending_cr)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        problems.append(FileProblem(path, 1 + _lines_before(path, done), "not valid UTF-8: it ends inside a character"))
        return None
    return _sql_file(path, head, digest.hexdigest(), templated, size, problems)


def _marked(data: bytes) -> bool:
    """Whether ``data`` holds a template marker. Most SQL has no brace at all, and looking for one (memchr) is
    several times faster than the search."""
    return b"{" in data and _TEMPLATE_MARKER.search(data) is not None


def _lines_before(path: Path, offset: int) -> int:
    """How many line ends come before ``offset`` in the normalised text of ``path``; read again, on errors only."""
    with open(path, "rb") as fh:
        data = fh.read().removeprefix(_BOM).replace(b"\r\n", b"\n")
    return data.count(b"\n", 0, offset)


def _sql_file(
    path: Path, head: str, checksum: str, templated: bool, size: int, problems: list[FileProblem]
) -> SqlFile | None:
    try:
        directives = read_directives(head.splitlines(keepends=True), path) if "sqlmig" in head.lower() else frozenset()
    except DiscoveryError as exc:
        problems.extend(exc.problems)
        return None
    return SqlFile(
        path=path,
        directives=directives,
        checksum=checksum,
        templated=templated and "no-template" not in directives,
        size=size,
    )
