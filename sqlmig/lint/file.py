"""Linting one SQL file: render it, split and parse its statements, run the rules, apply its suppression
comments, report each cause once, and place each finding on the line of the file the user wrote.

Pure apart from reading the file: no database.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from pglast import parse_sql
from pglast.parser import ParseError, scan

from ..checks import Validation, nul_problem
from ..errors import DiscoveryError, RenderError
from ..model import SqlFile, Track
from ..reader import RawLines, open_streamed, read_checked
from ..render import STREAM_THRESHOLD, TemplateContext, render_text, source_position
from ..sqltext import Statement, iter_statements, locate
from ..sqltree import walk
from .finding import FileResult, Finding, SchemaEvent, TableEvent
from .idempotent import idempotency
from .names import Ref, refs, schema_refs
from .rules import RULES, FileState, Hit, remember, schema_created, track, unqualified
from .safety import safety
from .searchpath import SearchPath
from .suppress import Mark, Marks, Span, Suppressions, resolve

__all__ = ["FileResult", "Finding", "check", "lint_file"]


@dataclass(frozen=True)
class _Raw:
    """A finding placed in the text as linted (rendered), before suppressions: ``statement`` is the index of its
    statement in the file, -1 for the file as a whole; ``schema`` is set for SQM102."""

    code: str
    line: int
    column: int
    message: str
    hint: str
    statement: int = -1
    schema: str | None = None
    table: tuple[str | None, str] | None = None  # see Hit.table


_SCHEMA_HINT = (
    "create it in a migration that runs first (e.g. 00000000_000000_create_schemas.up.sql: "
    "CREATE SCHEMA IF NOT EXISTS name)"
)


def lint_file(
    source: SqlFile, track: Track, context: TemplateContext, *, missing_down: bool = False, schemas: bool = True
) -> FileResult:
    """What linting one ``.up.sql`` or ``.down.sql`` file of ``track``, rendered with ``context``, finds, with
    every rule on (a run reports those it selects): the findings after the file's suppressions, each cause once,
    and the schemas its statements create and use (for SQM102; not with ``schemas`` False, for a down file, which
    runs after the migrations that created them). ``missing_down`` adds SQM004 (which the file's header may
    suppress). A template that cannot be rendered is one SQM002 finding, SQL that cannot be parsed an
    SQM001 finding. Reads the file; writes nothing.
    """
    try:
        template, text, lines = _lines(source, context)
    except DiscoveryError:  # edited since discovery: its checksum no longer says what is linted
        message = "the file changed (was edited, deleted or made unreadable) while lint read it"
        return _alone(_finding(source, "SQM005", 1, 1, message, "run lint again once the file is saved"))
    except RenderError as exc:
        hint = exc.hint or "fix the template, or pass the variables it needs (--schema, --var NAME=VALUE)"
        return _alone(_finding(source, "SQM002", max(exc.line, 1), 1, f"template error: {exc.message}", hint))
    if text is not None and (nul := nul_problem(text)) is not None:  # the splitter would stop there
        line, column = source_position(template, text, nul.line, nul.column)
        return _alone(_finding(source, nul.code, line, column, nul.message, nul.advice))
    marks = Marks()
    state = FileState(track, source.transactional, up=source.path.name.endswith(".up.sql"))
    path = SearchPath(source.transactional)
    created: list[tuple[int, str]] = []  # the schemas the file creates: (statement, schema)
    raws = [_Raw("SQM004", 1, 1, _DOWN_MESSAGE, _DOWN_HINT)] if missing_down else []
    spans: list[Span] = []
    # What sqlmig refuses to run (and the warning for a file without statements) comes from the one validation
    # that up, --dry-run and verify use too.
    validation = Validation(transactional=source.transactional, templated=source.templated)
    try:
        for item in iter_statements(marks.wrap(lines)):
            raws += [_Raw(p.code, p.line, p.column, p.message, p.advice, len(spans)) for p in validation.check(item)]
            if isinstance(item, Statement):
                end = locate(item, len(item.text) + 1)
                spans.append(Span((item.line, item.column), end, item if marks.within(item) else None))
                raws += _statement(item, len(spans) - 1, state, path, created if schemas else None)
    except (OSError, UnicodeDecodeError) as exc:  # a streamed file that changed or vanished while it was read
        return _alone(_finding(source, "SQM005", 1, 1, f"cannot read file: {exc}", "check that it is readable UTF-8"))
    raws = [raw for raw in raws if (raw.statement, raw.code) not in state.withdrawn]  # undone by a later statement
    raws += [_Raw(p.code, p.line, p.column, p.message, p.advice) for p in validation.finish()]
    kept = _once(_suppress(raws, resolve(marks.found, spans, _is_comment), marks.found))
    findings = []
    events = [SchemaEvent(index, schema) for index, schema in created]
    # Only an up file's tables exist for the migrations after it (a down file's are undone before they run).
    tables = (
        [TableEvent(s, t, (s, t) in state.partitioned) for s, t in sorted(state.created, key=str)] if schemas else []
    )
    for raw in kept:
        line, column = raw.line, raw.column
        if text is not None:
            line, column = source_position(template, text, line, column)
        finding = _finding(source, raw.code, line, column, raw.message, raw.hint)
        if raw.schema is not None:
            events.append(SchemaEvent(raw.statement, raw.schema, finding))
        elif raw.table is not None:
            tables.append(TableEvent(*raw.table, use=finding))
        else:
            findings.append(finding)
    # A statement's uses come before what it creates: CREATE SCHEMA app … CREATE TABLE app.t uses it first.
    events.sort(key=lambda e: (e.statement, e.use is None))
    return FileResult(tuple(findings), tuple(events), tuple(tables))


def _alone(finding: Finding) -> FileResult:
    return FileResult((finding,))


# Rules whose findings repeat one cause (a name, a file's track) in every statement: reported once per file, at
# the first statement, with how many more there are. Key: the part of the message that names the cause.
_ONCE = {"SQM101": "more times", "SQM201": "more schema changes", "SQM202": "more data changes"}


def _once(raws: list[_Raw]) -> list[_Raw]:
    """``raws`` with each cause of the rules of :data:`_ONCE` reported once, at its first statement."""
    groups: dict[tuple[str, str], list[_Raw]] = {}
    for raw in raws:
        if raw.code in _ONCE:
            groups.setdefault(_cause(raw), []).append(raw)
    kept = []
    for raw in raws:
        group = groups.get(_cause(raw), [raw])
        if group[0] is not raw:
            continue
        more = f" (and {len(group) - 1} {_ONCE[raw.code]} in this file)" if len(group) > 1 else ""
        kept.append(replace(raw, message=raw.message + more))
    return kept


def _cause(raw: _Raw) -> tuple[str, str]:
    """What a finding of :data:`_ONCE` is about: the name it reports (SQM101), or only its rule (the file's track)."""
    return raw.code, raw.message if raw.code == "SQM101" else ""


_DOWN_MESSAGE = "this migration has no .down.sql, so it cannot be rolled back"
_DOWN_HINT = (
    "write the .down.sql that undoes it (with IF EXISTS); if it cannot be undone, say so at the top of the up "
    "file: -- sqlmig-lint: ignore-file SQM004 -- why"
)


def _lines(source: SqlFile, context: TemplateContext) -> tuple[str | None, str | None, Iterable[str]]:
    """The template (None unless the file is one), the text to lint (None when it is streamed) and its lines."""
    # The text read now must be the one discovery checksummed: findings are cached under that checksum.
    if source.templated:
        template = read_checked(source)
        text = render_text(source.path, template, context)
        return template, text, io.StringIO(text)
    if source.size > STREAM_THRESHOLD:
        return None, None, _stream(open_streamed(source))  # as the runner streams it: never held whole
    text = read_checked(source)
    return None, text, io.StringIO(text)


def _stream(fh: BinaryIO) -> Iterator[str]:
    """The lines of a large file as the runner reads them (:class:`~sqlmig.reader.RawLines`): CRLF as LF, and a
    lone CR kept as data, not taken for a line end."""
    with fh:
        yield from RawLines(fh)


def _statement(
    item: Statement, index: int, state: FileState, path: SearchPath, created: list[tuple[int, str]] | None
) -> list[_Raw]:
    """The raw findings of one statement; unless ``created`` is None, with SQM102 for the schemas it uses that the
    file has not created before it, and the schemas it creates added to ``created``."""
    try:
        parsed = parse_sql(item.text)
    except ParseError as exc:
        where = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else -1
        hint = "fix the statement: the server would reject it with the same error"
        return [_at(item, index, Hit("SQM001", f"PostgreSQL cannot parse this: {exc.args[0]}", hint, where))]
    raws = []
    state.statement = index
    for raw in parsed:
        hits, found = check(raw.stmt, state, path)
        raws += [_at(item, index, hit) for hit in hits]
        if created is None:
            continue
        first: dict[str, int] = {}  # one finding per schema and statement, at its first use
        earlier = {schema for _, schema in created}
        for ref in schema_refs(found):
            if ref.schema is not None and ref.schema not in earlier:
                first.setdefault(ref.schema, ref.location)
        for schema, location in first.items():
            raws.append(_at(item, index, Hit("SQM102", "", _SCHEMA_HINT, location), schema))
        new = schema_created(raw.stmt)
        if new is not None:
            created.append((index, new))
    return raws


def check(stmt: Any, state: FileState, path: SearchPath | None = None) -> tuple[list[Hit], list[Ref]]:
    """The rules ``stmt`` breaks (all but SQM102, which needs every file: see
    :class:`sqlmig.lint.driver.SchemaLedger`), and the objects it names. Updates ``state`` with the tables it
    creates and ``path`` with the search_path it sets: a name without a schema is reported (SQM101) unless the
    file chose the search_path (see :mod:`sqlmig.lint.searchpath`)."""
    nodes = list(walk(stmt))  # once: walking the tree is most of the work on a large INSERT
    found = refs(stmt, state.temp, nodes)
    if path is not None:
        path.see(stmt)
    chosen = path is not None and path.chosen
    hits = [unqualified(ref) for ref in found if ref.schema is None and not chosen]
    hits += track(stmt, state, nodes) + idempotency(stmt, state, nodes) + safety(stmt, state)
    remember(stmt, state)
    return hits, found


def _at(item: Statement, index: int, hit: Hit, schema: str | None = None) -> _Raw:
    line, column = locate(item, hit.location + 1) if hit.location >= 0 else (item.line, item.column)
    return _Raw(hit.code, line, column, hit.message, hit.hint, index, schema, hit.table)


def _suppress(raws: list[_Raw], suppressions: Suppressions, marks: list[Mark]) -> list[_Raw]:
    """``raws`` without the suppressed findings, plus SQM006 for malformed marks and SQM007 for unused ones."""
    kept = []
    used: set[tuple[int, str]] = set()
    for raw in raws:
        covering = suppressions.covering(raw.code, raw.statement) if RULES[raw.code].suppressible else []
        used.update((mark, raw.code) for mark in covering)
        if not covering:
            kept.append(raw)
    for mark, message, hint in suppressions.problems:
        kept.append(_Raw("SQM006", mark.line, mark.column, message, hint))
    for index, code in suppressions.codes:
        if (index, code) not in used:
            mark = marks[index]
            where = "is not just above or on a statement" if index in suppressions.unattached else "matches nothing"
            hint = (
                "put it on the line just above the statement (only comments between) or at the end of one of its lines"
                if index in suppressions.unattached
                else "remove it: the statement no longer breaks that rule"
            )
            kept.append(_Raw("SQM007", mark.line, mark.column, f"suppression of {code} {where}", hint))
    return kept


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _is_comment(text: str, offset: int) -> bool:
    """Whether a ``--`` comment starts at ``offset`` of ``text`` (rather than, say, a string holding ``--``)."""
    try:
        # The scanner reports byte offsets: with one byte per character they are character offsets.
        tokens = scan(_NON_ASCII.sub("_", text))
    except ParseError:
        return True
    return any(t.name == "SQL_COMMENT" and t.start == offset for t in tokens)


def _finding(source: SqlFile, code: str, line: int, column: int, message: str, hint: str) -> Finding:
    rule = RULES[code]
    hint = f"{hint}; {MEASURE}" if rule.measured else hint
    return Finding(code, rule.severity, source.path, line, column, message, hint)


# Lint cannot see the table's size or the server's version: what the statement does there is measured.
MEASURE = "to see the locks it takes and whether it rewrites, run it on a scratch database: sqlmig explain"
