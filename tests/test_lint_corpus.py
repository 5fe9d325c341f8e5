"""The annotated lint corpus (``tests/lint_corpus/``): migration histories in the style of real applications, each
dangerous statement marked with what a careful reviewer would report, and sqlmig's findings held against them.

An annotation is a comment ``-- expect: SQM408[, SQM409 …]`` on a line of the statement it is about, or on the
comment lines just above it; in a file without statements it is about the file itself. ``-- expect-missed: what``
marks a real danger that no rule can express: counted and shown, never matched. A finding and an annotation match
when they name the same file, statement (or the same line, outside statements) and code.

The default rules (the safety set, ``SQM4xx``, and the file rules that are always on) must find every annotated
expectation and be right at least 90% of the time; with the conventions on, the numbers are only shown. No server.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sqlmig.lint import Finding, lint
from sqlmig.reader import read_text
from sqlmig.render import TemplateContext, render_text
from sqlmig.sqltext import MetaCommand, Statement, iter_statements

from .helpers import tree

CORPUS = Path(__file__).parent / "lint_corpus"
SCHEMA = "tenant_acme"  # what the tenant app's {{ schema | ident }} renders to
PRECISION = 0.90
_EXPECT = re.compile(r"--\s*expect:(?P<codes>[^\n]*)")
_MISSED = re.compile(r"--\s*expect-missed:(?P<what>[^\n]*)")
_CODE = re.compile(r"SQM\d{3}")
# Findings about a whole file rather than one of its statements.
_FILE_LEVEL = frozenset({"SQM004", "SQM010"})
# The file rules that are on whatever the rule sets: they say that sqlmig would refuse the file.
_ALWAYS_ON = frozenset({"SQM001", "SQM002", "SQM003", "SQM005", "SQM006", "SQM007", "SQM008", "SQM009"})


def default_rule(code: str) -> bool:
    """Whether ``code`` is reported with the default rule set (safety, plus the file rules always on)."""
    return code in _ALWAYS_ON or code.startswith("SQM4")


# A finding or an expectation: file (relative to the corpus), anchor (the first line of its statement, or the line
# itself outside statements, or 0 for the file as a whole) and rule code.
Key = tuple[str, int, str]


@dataclass
class Truth:
    """The annotations of a corpus: the expected findings (``expected``), the line each is written on (to report
    it), the dangers no rule expresses (``missed``, as ``path:line what``) and annotations that attach to nothing."""

    expected: dict[Key, int] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)


def _spans(path: Path) -> list[tuple[int, int]]:
    """(first, last) line of each statement and psql meta-command of a file, as rendered for the tenant schema (a
    template's lines are those of its rendering: its expressions never span lines)."""
    text = read_text(path)
    if "{{" in text or "{%" in text:
        text = render_text(path, text, TemplateContext(schema=SCHEMA))
    spans = []
    for item in iter_statements(text.splitlines(keepends=True)):
        if isinstance(item, Statement):
            spans.append((item.line, item.line + item.text.count("\n")))
        elif isinstance(item, MetaCommand):
            spans.append((item.line, item.line))
    return spans


def _anchor(spans: Sequence[tuple[int, int]], line: int) -> int:
    """The first line of the statement holding ``line``, or ``line`` itself."""
    return next((first for first, last in spans if first <= line <= last), line)


def read_truth(root: Path) -> Truth:
    """The annotations of every ``.sql`` file under ``root``."""
    truth = Truth()
    for path in sorted(root.rglob("*.sql")):
        name = path.relative_to(root).as_posix()
        lines = read_text(path).splitlines()
        spans = _spans(path)
        for number, line in enumerate(lines, 1):
            if (missed := _MISSED.search(line)) is not None:
                truth.missed.append(f"{name}:{number} {missed['what'].strip()}")
                continue
            if (expect := _EXPECT.search(line)) is None:
                continue
            anchor = _attach(spans, lines, number)
            if anchor is None:
                truth.dangling.append(f"{name}:{number}")
                continue
            for code in _CODE.findall(expect["codes"]):
                truth.expected[(name, 0 if code in _FILE_LEVEL else anchor, code)] = number
    return truth


def _attach(spans: Sequence[tuple[int, int]], lines: Sequence[str], number: int) -> int | None:
    """What the annotation on line ``number`` is about: the statement holding that line, else the next statement
    when only comment lines come between, else (no statement after it) the file: 0. None when it attaches to
    nothing (a blank or other line between it and the next statement)."""
    holding = _anchor(spans, number)
    if holding != number or any(first == number for first, _ in spans):
        return holding
    after = [first for first, _ in spans if first > number]
    if not after:
        return 0
    between = lines[number : after[0] - 1]
    return after[0] if all(text.lstrip().startswith("--") for text in between) else None


def finding_keys(root: Path, findings: Iterable[Finding]) -> set[Key]:
    """The keys of ``findings`` of files under ``root``."""
    spans: dict[Path, list[tuple[int, int]]] = {}
    keys = set()
    for finding in findings:
        path = Path(finding.path).resolve()
        if path not in spans:
            spans[path] = _spans(path) if path.is_file() else []
        anchor = 0 if finding.code in _FILE_LEVEL else _anchor(spans[path], finding.line)
        keys.add((path.relative_to(root.resolve()).as_posix(), anchor, finding.code))
    return keys


@dataclass(frozen=True)
class Score:
    """Found against expected: the true positives, false positives and false negatives, as sorted keys."""

    true: list[Key]
    false: list[Key]
    missing: list[Key]

    @property
    def precision(self) -> float:
        """The share of findings that were expected (1.0 without findings)."""
        found = len(self.true) + len(self.false)
        return len(self.true) / found if found else 1.0

    def table(self) -> str:
        """Per rule: true positives, false positives (found, not annotated), false negatives (annotated, not
        found)."""
        counts = [Counter(code for _, _, code in keys) for keys in (self.true, self.false, self.missing)]
        codes = sorted(set().union(*counts))
        rows = [f"{'rule':<8} {'TP':>4} {'FP':>4} {'FN':>4}"]
        rows += [f"{code:<8} {counts[0][code]:>4} {counts[1][code]:>4} {counts[2][code]:>4}" for code in codes]
        rows.append(f"{'all':<8} {len(self.true):>4} {len(self.false):>4} {len(self.missing):>4}")
        return "\n".join(rows)


def score(found: set[Key], expected: Iterable[Key]) -> Score:
    """Compare findings with expectations."""
    wanted = set(expected)
    return Score(sorted(found & wanted), sorted(found - wanted), sorted(wanted - found))


def shown(keys: Iterable[Key], truth: Truth) -> str:
    """Keys as ``path:line CODE``, at the annotation's line when there is one."""
    return "\n".join(f"  {p}:{truth.expected.get((p, line, code), line)} {code}" for p, line, code in keys)


def has_rule_sets() -> bool:
    """Whether :func:`sqlmig.lint.lint` selects rule sets yet (its ``rules`` option)."""
    return "rules" in inspect.signature(lint).parameters


def lint_corpus(root: Path, rules: list[str] | None) -> list[Finding]:
    """The findings of every app folder under ``root``: with the rule sets ``rules``, or with what ``lint``
    reports by default when ``rules`` is None."""
    options = {} if rules is None else {"rules": rules}
    found: list[Finding] = []
    for app in sorted(p for p in root.iterdir() if p.is_dir()):
        found += lint(paths=[app], schema=SCHEMA, **options).findings
    return found


def default_findings(root: Path) -> list[Finding]:
    """The findings of the default rule set; until rule sets exist, every finding filtered to that set."""
    if has_rule_sets():
        return lint_corpus(root, ["safety"])
    return [f for f in lint_corpus(root, None) if default_rule(f.code)]


def test_corpus_is_large_and_well_annotated() -> None:
    ups = list(CORPUS.rglob("*.up.sql"))
    truth = read_truth(CORPUS)
    assert len(ups) >= 45
    assert not truth.dangling, "annotations attached to no statement:\n" + "\n".join(truth.dangling)
    assert {code for _, _, code in truth.expected} >= {f"SQM4{n:02}" for n in range(1, 21)} - {"SQM406", "SQM407"}


def test_default_rules_find_every_annotation_precisely() -> None:
    truth = read_truth(CORPUS)
    result = score(finding_keys(CORPUS, default_findings(CORPUS)), (k for k in truth.expected if default_rule(k[2])))
    print(f"\ndefault rules on {len(list(CORPUS.rglob('*.sql')))} files:\n{result.table()}")
    print(f"precision {result.precision:.3f}; dangers no rule expresses: {len(truth.missed)}")
    print("\n".join(f"  {m}" for m in truth.missed))
    problems = []
    if result.missing:
        problems.append("annotated, not found:\n" + shown(result.missing, truth))
    if result.precision < PRECISION:
        problems.append(f"precision {result.precision:.3f} < {PRECISION}; found, not annotated:\n")
        problems[-1] += shown(result.false, truth)
    assert not problems, "\n".join(problems)


def test_conventions_numbers() -> None:
    if not has_rule_sets():
        pytest.fail("sqlmig.lint.lint has no rules= option yet: the conventions set cannot be selected")
    truth = read_truth(CORPUS)
    result = score(finding_keys(CORPUS, lint_corpus(CORPUS, ["safety", "conventions"])), truth.expected)
    print(f"\nsafety and conventions:\n{result.table()}\nprecision {result.precision:.3f}")


# --- the harness itself, on a corpus of its own --------------------------------------------------------------------

_MINI = {
    "app/migrate/20240101_000000_t.up.sql": "CREATE TABLE public.t (a int);\n",
    "app/migrate/20240102_000000_u.up.sql": (
        "CREATE INDEX i ON public.t (a);  -- expect: SQM401\n"  # found: true positive
        "-- expect: SQM403\n"
        "ALTER TABLE public.t ADD COLUMN b int;\n"  # annotated, not found
        "ALTER TABLE public.t ADD COLUMN c int NOT NULL;\n"  # found, not annotated
        "-- expect: SQM401\n"
        "-- (the finding is on the statement's second line)\n"
        "CREATE INDEX j\n"
        "    ON {{ schema | ident }}.t (a);\n"
        "-- expect-missed: nothing to see\n"
    ),
    "app/migrate/20240103_000000_v.up.sql": "-- expect: SQM010\n-- only comments\n",
    "app/migrate/20240104_000000_w.up.sql": "-- expect: SQM401\n\nCREATE INDEX k ON public.t (a);\n",
}


def test_harness_scores_a_corpus(tmp_path: Path) -> None:
    tree(tmp_path, _MINI)
    truth = read_truth(tmp_path)
    u, v = "app/migrate/20240102_000000_u.up.sql", "app/migrate/20240103_000000_v.up.sql"
    assert truth.dangling == ["app/migrate/20240104_000000_w.up.sql:1"]
    assert truth.missed == [f"{u}:9 nothing to see"]
    # SQM010 is a convention: on with the conventions once rule sets exist, on by default before.
    every = ["safety", "conventions"] if has_rule_sets() else None
    found = finding_keys(tmp_path, lint_corpus(tmp_path, every))
    result = score({k for k in found if k[2] in ("SQM401", "SQM403", "SQM010")}, truth.expected)
    assert result.true == [(u, 1, "SQM401"), (u, 7, "SQM401"), (v, 0, "SQM010")]
    assert result.false == [(u, 4, "SQM403"), ("app/migrate/20240104_000000_w.up.sql", 3, "SQM401")]
    assert result.missing == [(u, 3, "SQM403")]
    assert result.precision == 3 / 5
    assert shown(result.missing, truth) == f"  {u}:2 SQM403"
