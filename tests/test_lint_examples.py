"""docs/lint.md documents every rule, and its examples are right: for each rule, the SQL under ``Wrong:`` yields
that rule's code and the SQL under ``Right:`` does not. A suppressible rule without both examples fails. No
server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from sqlmig.files import discover_tracks
from sqlmig.lint import RULES, lint_files
from sqlmig.render import TemplateContext

from .helpers import tree

PAGE = Path(__file__).parent.parent / "docs" / "lint.md"
SECTION = re.compile(r"^### (SQM\d{3})\n(.*?)(?=^##|\Z)", re.M | re.S)
EXAMPLE = re.compile(r"^(Wrong|Right):\n\n```sql\n(.*?)```\n", re.M | re.S)
MARKER = re.compile(r"\A-- file: ([\w, -]+)\n")
MODES = {"seed", "down", "no-down", "all"}


class Example(NamedTuple):
    code: str
    kind: str  # "Wrong" or "Right"
    sql: str


def sections(text: str) -> dict[str, str]:
    """Each rule's section of the page, by code."""
    return {m.group(1): m.group(2) for m in SECTION.finditer(text)}


def examples(text: str) -> list[Example]:
    return [
        Example(code, m.group(1), m.group(2)) for code, body in sections(text).items() for m in EXAMPLE.finditer(body)
    ]


def codes_of(base: Path, sql: str) -> list[str]:
    """The codes found in ``sql``, linted as the marker on its first line says (see docs/lint.md, Rules)."""
    marker = MARKER.match(sql)
    modes = {m.strip() for m in marker.group(1).split(",")} if marker else set()
    assert modes <= MODES, f"unknown example marker: {modes - MODES}"
    body = sql[marker.end() :] if marker else sql
    folder = "seed" if "seed" in modes else "migrate"
    up, down = f"{folder}/20240101_000000_example.up.sql", f"{folder}/20240101_000000_example.down.sql"
    files = {up: "SELECT 1;\n", down: body} if "down" in modes else {up: body, down: "SELECT 1;\n"}
    if "no-down" in modes:
        del files[down]
    tree(base, files)
    found = discover_tracks(base)
    migrations = [f for track in found.values() for f in track]
    rules = ["safety", "conventions"]  # every rule: the examples of the conventions too
    report = lint_files(migrations, TemplateContext(schema="app", vars={}), complete="all" in modes, rules=rules)
    return [f.code for f in report.findings]


PAGE_TEXT = PAGE.read_text(encoding="utf-8")
EXAMPLES = examples(PAGE_TEXT)


def test_every_rule_has_a_section_and_a_row() -> None:
    assert list(sections(PAGE_TEXT)) == list(RULES)
    for code, rule in RULES.items():
        summary = rule.summary.replace("*", "\\*")
        assert f"*{summary[0].upper()}{summary[1:]}.*" in sections(PAGE_TEXT)[code], code
        row = f"| [{code}](#{code.lower()}) | {rule.severity} |"
        assert row in PAGE_TEXT, code


@pytest.mark.parametrize("code", [c for c, rule in RULES.items() if rule.suppressible])
def test_every_suppressible_rule_has_a_wrong_and_a_right_example(code: str) -> None:
    kinds = [e.kind for e in EXAMPLES if e.code == code]
    assert kinds == ["Wrong", "Right"], f"{code}: docs/lint.md needs one Wrong: and one Right: ```sql example"


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.code}-{e.kind.lower()}" for e in EXAMPLES])
def test_example(tmp_path: Path, example: Example) -> None:
    found = codes_of(tmp_path, example.sql)
    if example.kind == "Wrong":
        assert example.code in found
    else:
        assert example.code not in found, found


def test_a_wrong_example_that_breaks_nothing_fails(tmp_path: Path) -> None:
    page = "### SQM401\n\nWrong:\n\n```sql\nSELECT 1;\n```\n\nRight:\n\n```sql\nSELECT 1;\n```\n"
    (wrong, right) = examples(page)
    assert (wrong.kind, right.kind) == ("Wrong", "Right")
    assert "SQM401" not in codes_of(tmp_path, wrong.sql)
