"""``sqlmig lint``: check migration files against the project's rules with PostgreSQL's own parser.

Each file is rendered as it would run (templates with the given schema and variables), split into statements and
parsed by pglast; the rules (:data:`RULES`, in :mod:`sqlmig.lint.rules` and the modules it names) look at the
syntax trees, never at the text, and findings point at the line of the file as written. Pure apart from reading
files: no database.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import DiscoveryError, FileProblem
from ..files import discover_tracks, scan_file
from ..model import TRACKS, MigrationFile, Track, version_of
from ..naming import NAME_RE, NAMING_RULE, name_clashes
from .finding import FileResult, Finding
from .ledger import SchemaLedger, TableLedger
from .sets import Selection, select

if TYPE_CHECKING:
    from ..render import TemplateContext
    from .cache import LintCache

__all__ = ["Finding", "LintReport", "lint", "lint_files"]


@dataclass(frozen=True)
class LintReport:
    """What :func:`lint` found: every finding, in file order and then line order, and how many files it checked.
    A report without findings is clean; one with warnings only is still usable."""

    findings: tuple[Finding, ...]
    files: int

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity ``error``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity ``warning``."""
        return tuple(f for f in self.findings if f.severity == "warning")


def lint(
    directory: Path | str | None = None,
    paths: Sequence[Path | str] = (),
    *,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    rules: Sequence[str] | None = None,
    since: str | None = None,
    cache: bool = False,
) -> LintReport:
    """Lint migration files, ``.up.sql`` and ``.down.sql``, with the template context of the configuration.

    ``paths`` are files or folders: a migrations folder (holding ``migrate/`` and ``seed/``) or a track folder
    (``migrate`` or ``seed``); a file's track is the name of its folder, and naming one file of a migration lints
    both. Without ``paths``, the configured migrations folder (``directory``, or ``[tool.sqlmig]``, or
    ``migrations``). ``schema`` and ``vars`` override the configuration's, as ``--schema`` and ``--var`` do;
    ``rules`` (rule set names and codes) overrides ``lint_rules``: only the findings of the rules selected are
    reported, and those of the file rules always. With ``since`` (a git ref), only the migrations changed since
    it are checked (see :func:`sqlmig.lint.since.changed`); every migration is still read for SQM102. With
    ``cache``, the results of unchanged files are read from, and new ones written to, ``.sqlmig/lint-cache.json``
    in the project folder (see :mod:`sqlmig.lint.cache`). Files sqlmig cannot use (bad names, unknown
    directives, missing paths) are SQM005 findings, not exceptions. Raises :class:`~sqlmig.errors.ConfigError`
    for an invalid ``[tool.sqlmig]`` or rule, and for a ``since`` that is not a git ref of a repository holding
    the files. Reads files (and runs git with ``since``); writes only the cache.
    """
    settings = config.load(directory=directory, schema=schema, vars=vars, lint_rules=rules)
    selection = select(settings.lint_rules, key="lint_rules" if rules is None else "rules")
    files, problems, complete = _collect([Path(p) for p in paths] or [settings.directory])
    shown: set[Path] | None = None
    if since is not None:
        from .since import changed

        shown = changed(since, [Path(p) for p in paths] or [settings.directory])
        problems = [p for p in problems if p.path.resolve() in shown]
    store = None
    if cache:
        from .cache import LintCache

        store = LintCache.open(settings.root / ".sqlmig")
    context = _context(settings)
    report = lint_files(files, context, complete=complete, rules=selection, shown=shown, cache=store)
    if store is not None:
        store.save()
    found = [Finding("SQM005", "error", p.path, p.line or 1, 1, p.message, _FILE_HINT) for p in problems]
    return LintReport(tuple(found) + report.findings, report.files)


_FILE_HINT = "sqlmig refuses to run until it is fixed; see 'Files' and 'Directives' in the README"


def _context(settings: config.Settings) -> TemplateContext:
    from ..render import TemplateContext

    return TemplateContext(schema=settings.schema, vars=settings.vars, env=settings.env)


def lint_files(
    files: Sequence[MigrationFile],
    context: TemplateContext,
    *,
    pairs_checked: bool = True,
    complete: bool = False,
    rules: Selection | Sequence[str] | None = None,
    shown: Collection[Path] | None = None,
    cache: LintCache | None = None,
) -> LintReport:
    """Lint the up and down files of ``files`` (e.g. the pending ones, before ``up`` runs them), rendered with
    ``context``; report the findings of the ``rules`` selected (a :class:`~sqlmig.lint.sets.Selection`, or set
    names and codes as in ``lint_rules``; None: the default, ``safety``) and of the file rules.

    ``pairs_checked`` reports an up file without its down file (SQM004). ``complete`` says that ``files`` are
    every migration of the project, so that a schema no migration creates is reported too (SQM102); with only
    some migrations, the others may create it, and only a schema created later than its use is reported.
    ``shown`` limits the report to the migrations with a file among these resolved paths; the others are read
    only for the schemas and tables they create. ``cache`` answers for files linted before with the same text. Reads
    files; writes nothing (the cache is written by its :meth:`~sqlmig.lint.cache.LintCache.save`). Raises
    :class:`~sqlmig.ConfigError` for an unknown rule.
    """
    selection = rules if isinstance(rules, Selection) else select(rules, key="rules")
    order = {track: i for i, track in enumerate(TRACKS)}
    ledger, tables = SchemaLedger(), TableLedger()
    findings: list[Finding] = []
    count = 0
    ordered = sorted(files, key=lambda f: (order[f.track], f.version, f.name))
    for file in ordered:
        reported = shown is None or any(f.path.resolve() in shown for f in (file.up, file.down) if f is not None)
        missing = pairs_checked and file.down is None
        result = _result(file, "up", context, missing, cache)
        ledger.add(result, file.name, reported)
        tables.add(result, reported)
        if not reported:
            continue
        findings += result.findings
        count += 1
        if file.down is not None:
            findings += _result(file, "down", context, False, cache).findings
            count += 1
    findings += ledger.finish(complete) + tables.findings
    findings = [f for f in findings if f.code in selection]
    # In the order the files run (an up file before its down file), SQM102 decided last included.
    paths = [source.path for f in ordered for source in (f.up, f.down) if source is not None]
    position = {path: i for i, path in enumerate(dict.fromkeys(paths + [f.path for f in findings]))}
    findings.sort(key=lambda f: (position[f.path], f.line, f.column, f.code))
    return LintReport(tuple(findings), count)


def _result(
    file: MigrationFile, kind: str, context: TemplateContext, missing_down: bool, cache: LintCache | None
) -> FileResult:
    """What linting the ``kind`` file (up or down) of ``file`` finds: from ``cache`` when it has it."""
    source = file.up if kind == "up" or file.down is None else file.down
    key = (file.track, kind, missing_down)
    if cache is not None and (found := cache.get(source, key, context)) is not None:
        return found
    from .file import lint_file  # the parser: loaded only when a file must be parsed

    result = lint_file(source, file.track, context, missing_down=missing_down, schemas=kind == "up")
    # A file that could not be read as discovery read it (edited meanwhile, unreadable) says nothing of its text.
    if cache is not None and not any(f.code == "SQM005" for f in result.findings):
        cache.put(source, key, context, result)
    return result


def _collect(targets: list[Path]) -> tuple[list[MigrationFile], list[FileProblem], bool]:
    """The migrations named by ``targets``, the problems of the files among them that sqlmig cannot use, and
    whether they hold every migration of the migrate track (a migrations folder or its migrate folder)."""
    found: dict[tuple[Track, str], MigrationFile] = {}
    problems: list[FileProblem] = []
    complete = False
    for target in targets:
        if target.is_file():
            file = _one_file(target, problems)
            found.update({(file.track, file.name): file} if file else {})
            continue
        tracks: tuple[Track, ...] = TRACKS
        root = target
        if target.name in TRACKS and not any((target / t).is_dir() for t in TRACKS):
            root, tracks = target.parent, (_track(target.name),)
        complete = complete or "migrate" in tracks
        try:
            by_track = discover_tracks(root, tracks)
        except DiscoveryError as exc:
            problems += exc.problems
            by_track = {t: _salvage(root / t, t) for t in tracks} if root.is_dir() else {}
        found.update({(f.track, f.name): f for files in by_track.values() for f in files})
    return list(found.values()), problems, complete


def _track(name: str) -> Track:
    return "seed" if name == "seed" else "migrate"


def _one_file(path: Path, problems: list[FileProblem]) -> MigrationFile | None:
    """The migration a file named on the command line belongs to (both of its files)."""
    match = NAME_RE.match(path.name)
    if path.parent.name not in TRACKS:
        problems.append(FileProblem(path, 0, "cannot tell its track: keep it in a folder named migrate or seed"))
    elif match is None:
        problems.append(FileProblem(path, 0, f"file name does not fit the naming rule: {NAMING_RULE}"))
    else:
        name = path.name[: match.start("kind") - 1]
        file = _pair(path.parent, name, _track(path.parent.name), problems)
        # As discovery does for a folder: a name the other track uses too is refused before anything runs.
        problems += name_clashes(path.parent.parent, {file.track: [file]}) if file else []
        return file
    return None


def _salvage(folder: Path, track: Track) -> list[MigrationFile]:
    """The migrations of a track folder that discovery refused, as far as they can be read, so that their SQL is
    linted too; discovery has reported what is wrong with the others."""
    names = sorted({m.string[: m.start("kind") - 1] for m in map(NAME_RE.match, _names(folder)) if m is not None})
    files = [_pair(folder, name, track, []) for name in names]
    return [f for f in files if f is not None]


def _names(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _pair(folder: Path, name: str, track: Track, problems: list[FileProblem]) -> MigrationFile | None:
    up_path, down_path = folder / f"{name}.up.sql", folder / f"{name}.down.sql"
    if not up_path.is_file():
        problems.append(FileProblem(down_path, 0, f"down file has no up file (expected {up_path.name})"))
        return None
    up = scan_file(up_path, problems)
    down = scan_file(down_path, problems) if down_path.is_file() else None
    if up is None or (down is None and down_path.is_file()):
        return None
    return MigrationFile(track=track, version=version_of(name), name=name, up=up, down=down)
