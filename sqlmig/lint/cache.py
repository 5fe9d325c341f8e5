"""The lint cache: what linting a file found, kept in ``.sqlmig/lint-cache.json`` of the project folder, so that
a file whose text has not changed is not rendered, split and parsed again (parsing, and loading the parser, are
most of the cost of ``sqlmig lint``).

An entry is keyed by everything its result depends on: the file's checksum (SHA-256 of its text), its track,
whether it is an up or a down file and whether its down file is missing (SQM004), for a template the context it
is rendered with (schema, variables, environment), and the code that lints it: sqlmig's own modules, pglast's and
Jinja2's (their sizes and modification times, so that any upgrade or edit empties the cache). The entry holds every
finding with every rule on, after the file's suppressions: which rules a run reports is decided afterwards.
Findings of SQM102, and of SQM401 for an index ON ONLY a table, depend on the other files and are decided by each
run from the schema and table events the entry keeps.

A cache that cannot be read or does not have the expected shape is ignored (the files are parsed again), and
one that cannot be written is left as it was; a file that changed after discovery checksummed it is reported
(SQM005) and not cached: the cache never changes what lint finds.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..version import __version__
from .finding import FileResult, Finding, SchemaEvent, TableEvent

if TYPE_CHECKING:
    from ..model import SqlFile, Track
    from ..render import TemplateContext

FORMAT = 2
FILENAME = "lint-cache.json"
# Entries of files not seen in this run are kept (another branch's files) up to this many in all.
MAX_ENTRIES = 5000
_SEVERITIES = ("error", "warning")


@dataclass
class LintCache:
    """The cache of one project, read once by :meth:`open` and written once by :meth:`save`."""

    folder: Path
    fingerprint: str
    entries: dict[str, Any] = field(default_factory=dict)
    used: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def open(cls, folder: Path) -> LintCache:
        """The cache in ``folder`` (``.sqlmig/`` of the project); empty when there is none, or it cannot be
        read, or it was written by other code. Reads one file."""
        fingerprint = code_fingerprint()
        try:
            data = json.loads((folder / FILENAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(folder, fingerprint)
        valid = isinstance(data, dict) and data.get("format") == FORMAT and data.get("fingerprint") == fingerprint
        entries = data.get("entries") if valid else None
        return cls(folder, fingerprint, entries if isinstance(entries, dict) else {})

    def get(self, source: SqlFile, how: tuple[Track, str, bool], context: TemplateContext) -> FileResult | None:
        """The cached result of ``source`` linted ``how`` (its track, ``up`` or ``down``, and whether its down file
        is missing) with ``context``, its findings placed in ``source.path``; None when the cache does not have it
        (or holds something malformed for it)."""
        key = _key(source, how, context)
        entry = self.entries.get(key)
        result = _decode(entry, source.path)
        if result is not None:
            self.used[key] = entry
        return result

    def put(self, source: SqlFile, how: tuple[Track, str, bool], context: TemplateContext, result: FileResult) -> None:
        """Remember ``result``, what linting ``source`` as :meth:`get` says found."""
        self.used[_key(source, how, context)] = _encode(result)
        self.changed = True

    def save(self) -> None:
        """Write the cache if this run added to it: the entries it used, then older ones up to
        :data:`MAX_ENTRIES`. Creates ``folder`` (with a ``.gitignore`` that ignores it all) if needed; a folder
        that cannot be written is left alone. Writes one file, atomically."""
        if not self.changed:
            return
        older = [(k, v) for k, v in self.entries.items() if k not in self.used]
        kept = dict(list(self.used.items()) + older[: max(0, MAX_ENTRIES - len(self.used))])
        document = {"format": FORMAT, "fingerprint": self.fingerprint, "entries": kept}
        with contextlib.suppress(OSError):
            if not self.folder.is_dir():
                self.folder.mkdir(parents=True)
                (self.folder / ".gitignore").write_text("# sqlmig's data: never committed\n*\n", encoding="utf-8")
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".lint-cache-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(document, out, separators=(",", ":"))
                os.replace(temporary, self.folder / FILENAME)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


def code_fingerprint() -> str:
    """What identifies the code that lints: sqlmig's version, and the size and modification time of every
    module of sqlmig, of pglast (which parses) and of Jinja2 (which renders templates), found without importing
    them. Reads directories only."""
    stamps = [__version__]
    folders = [Path(__file__).resolve().parent.parent]
    for package in ("pglast", "jinja2"):
        spec = importlib.util.find_spec(package)
        folders += [Path(p) for p in (spec.submodule_search_locations or ())] if spec is not None else []
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith((".py", ".so", ".pyd")):
                    with contextlib.suppress(OSError):
                        info = os.stat(os.path.join(root, name))
                        stamps.append(f"{root}/{name}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(stamps).encode()).hexdigest()


def _key(source: SqlFile, how: tuple[Track, str, bool], context: TemplateContext) -> str:
    parts: list[Any] = [source.checksum, *how]
    if source.templated:
        parts.append({"schema": context.schema, "vars": dict(context.vars), "env": dict(context.env)})
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def _encode(result: FileResult) -> dict[str, Any]:
    return {
        "findings": [_finding(f) for f in result.findings],
        "schemas": [[e.statement, e.schema, None if e.use is None else _finding(e.use)] for e in result.schemas],
        "tables": [
            [e.schema, e.table, e.partitioned, None if e.use is None else _finding(e.use)] for e in result.tables
        ],
    }


def _finding(f: Finding) -> list[Any]:
    return [f.code, f.severity, f.line, f.column, f.message, f.hint]


def _decode(entry: Any, path: Path) -> FileResult | None:
    """The result an entry holds, placed in ``path``; None for anything but the shape :func:`_encode` writes."""
    if not isinstance(entry, dict):
        return None
    findings, events, table_events = entry.get("findings"), entry.get("schemas"), entry.get("tables")
    if not isinstance(findings, list) or not isinstance(events, list) or not isinstance(table_events, list):
        return None
    read = [_read_finding(f, path) for f in findings]
    schemas = [_read_event(e, path) for e in events]
    tables = [_read_table(e, path) for e in table_events]
    if any(f is None for f in read) or any(e is None for e in schemas) or any(e is None for e in tables):
        return None
    return FileResult(
        tuple(f for f in read if f is not None),
        tuple(e for e in schemas if e is not None),
        tuple(e for e in tables if e is not None),
    )


def _read_event(value: Any, path: Path) -> SchemaEvent | None:
    if not isinstance(value, list) or len(value) != 3:
        return None
    statement, schema, use = value
    if not isinstance(statement, int) or isinstance(statement, bool) or not isinstance(schema, str):
        return None
    if use is None:
        return SchemaEvent(statement, schema)
    finding = _read_finding(use, path)
    return None if finding is None else SchemaEvent(statement, schema, finding)


def _read_table(value: Any, path: Path) -> TableEvent | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    schema, table, partitioned, use = value
    if (
        not (schema is None or isinstance(schema, str))
        or not isinstance(table, str)
        or not isinstance(partitioned, bool)
    ):
        return None
    if use is None:
        return TableEvent(schema, table, partitioned)
    finding = _read_finding(use, path)
    return None if finding is None else TableEvent(schema, table, partitioned, finding)


def _read_finding(value: Any, path: Path) -> Finding | None:
    if not isinstance(value, list) or len(value) != 6:
        return None
    code, severity, line, column, message, hint = value
    texts = all(isinstance(v, str) for v in (code, message, hint))
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (line, column))
    if not (texts and numbers and severity in _SEVERITIES):
        return None
    return Finding(code, severity, path, line, column, message, hint)
