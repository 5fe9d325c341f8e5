"""The lint cache (.sqlmig/lint-cache.json): an unchanged file is not parsed again, anything its result depends on
changes the key, and a cache that is corrupt, of another shape or cannot be written never changes the findings.
No server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlmig.files import discover_tracks
from sqlmig.lint import cache as cache_module
from sqlmig.lint import driver, file
from sqlmig.lint.cache import FILENAME, LintCache
from sqlmig.lint.driver import lint, lint_files
from sqlmig.render import TemplateContext

from .helpers import tree

ROOT = Path(__file__).parent.parent
FILES = {
    "pyproject.toml": '[tool.sqlmig]\nlint_rules = ["safety", "conventions"]\n',
    "migrations/migrate/20240101_000000_a.up.sql": "CREATE TABLE IF NOT EXISTS items (id int);\nSELECT * FROM app.x;\n",
    "migrations/migrate/20240101_000000_a.down.sql": "DROP TABLE items;\n",
    "migrations/migrate/20240102_000000_b.up.sql": "CREATE INDEX IF NOT EXISTS i ON public.t ({{ column }});\n",
    "migrations/seed/20240103_000000_c.up.sql": "-- sqlmig-lint: ignore SQM304 -- rows of a fresh table\n"
    "INSERT INTO app.t VALUES (1);\n",
}
CACHE = Path(".sqlmig") / FILENAME


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tree(tmp_path, FILES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files parsed from now on."""
    parsed: list[str] = []
    real = file.lint_file

    def counting(source: object, *args: object, **kwargs: object) -> object:
        parsed.append(source.path.name)  # type: ignore[attr-defined]
        return real(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file, "lint_file", counting)
    return parsed


def test_an_unchanged_file_is_not_parsed_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parses(monkeypatch)
    cold = lint(vars={"column": "x"}, cache=True)
    assert len(parsed) == 4 and (project / CACHE).is_file()
    assert (project / ".sqlmig/.gitignore").read_text().splitlines()[-1] == "*"
    warm = lint(vars={"column": "x"}, cache=True)
    assert warm == cold and len(parsed) == 4
    assert warm == lint(vars={"column": "x"})  # the same as without the cache
    assert sorted({f.code for f in warm.findings}) == ["SQM004", "SQM101", "SQM102", "SQM303", "SQM401"]


def test_whatever_changes_the_result_changes_the_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(vars={"column": "x"}, cache=True)
    parsed = parses(monkeypatch)
    lint(vars={"column": "y"}, cache=True)  # a template's context
    assert parsed == ["20240102_000000_b.up.sql"]
    (project / "migrations/migrate/20240101_000000_a.down.sql").write_text("DROP TABLE IF EXISTS public.items;\n")
    (project / "migrations/seed/20240103_000000_c.down.sql").write_text("SELECT 1;\n")  # its up's SQM004 goes
    parsed.clear()
    report = lint(vars={"column": "y"}, cache=True)
    assert sorted(parsed) == ["20240101_000000_a.down.sql", "20240103_000000_c.down.sql", "20240103_000000_c.up.sql"]
    assert [f.path.name for f in report.findings if f.code == "SQM004"] == ["20240102_000000_b.up.sql"]
    # The same text as an up and as a down file: a down file records no schema uses.
    parsed.clear()
    same = FILES["migrations/migrate/20240101_000000_a.up.sql"]
    (project / "migrations/migrate/20240102_000000_b.down.sql").write_text(same)
    lint(vars={"column": "y"}, cache=True)
    assert parsed == ["20240102_000000_b.up.sql", "20240102_000000_b.down.sql"]


def test_other_code_empties_the_cache(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(vars={"column": "x"}, cache=True)
    monkeypatch.setattr("sqlmig.lint.cache.code_fingerprint", lambda: "another release")
    parsed = parses(monkeypatch)
    lint(vars={"column": "x"}, cache=True)
    assert len(parsed) == 4


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: "{not json",
        lambda d: "[]",
        lambda d: json.dumps({**d, "format": 0}),
        lambda d: json.dumps({**d, "entries": []}),
        lambda d: json.dumps({**d, "entries": {k: {"findings": [["SQM101"]]} for k in d["entries"]}}),
        lambda d: json.dumps({**d, "entries": {k: {"findings": [], "schemas": [[0, 1, None]]} for k in d["entries"]}}),
        lambda d: json.dumps(
            {**d, "entries": {k: {"findings": [[1, "error", 1, 1, "", ""]], "schemas": []} for k in d["entries"]}}
        ),
        lambda d: json.dumps(
            {**d, "entries": {k: {"findings": [["SQM1", "fatal", 1, 1, "", ""]], "schemas": []} for k in d["entries"]}}
        ),
        lambda d: json.dumps(
            {**d, "entries": {k: {"findings": [], "schemas": [[0, "s", ["x"]]]} for k in d["entries"]}}
        ),
        lambda d: json.dumps({**d, "entries": {k: None for k in d["entries"]}}),
    ],
    ids=[
        "not-json",
        "not-a-table",
        "old-format",
        "entries-not-a-table",
        "short-finding",
        "schema-not-text",
        "code-not-text",
        "unknown-severity",
        "malformed-use",
        "null-entry",
    ],
)
def test_a_damaged_cache_never_changes_the_findings(project: Path, damage: object) -> None:
    clean = lint(vars={"column": "x"})
    lint(vars={"column": "x"}, cache=True)
    document = json.loads((project / CACHE).read_text())
    (project / CACHE).write_text(damage(document))  # type: ignore[operator]
    assert lint(vars={"column": "x"}, cache=True) == clean
    assert lint(vars={"column": "x"}, cache=True) == clean  # and the cache written again is sound


def test_a_cache_that_cannot_be_read_or_written_is_left_alone(project: Path) -> None:
    clean = lint(vars={"column": "x"})
    (project / ".sqlmig").write_text("a file where the folder would be")
    assert lint(vars={"column": "x"}, cache=True) == clean
    (project / ".sqlmig").unlink()
    (project / ".sqlmig" / FILENAME).mkdir(parents=True)  # a folder where the file would be
    assert lint(vars={"column": "x"}, cache=True) == clean
    assert not [p for p in (project / ".sqlmig").iterdir() if p.name != FILENAME]  # no temporary file is left


def test_the_cache_keeps_older_entries_up_to_a_limit(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(vars={"column": "x"}, cache=True)
    lint(vars={"column": "y"}, cache=True)  # another context: b's entry is added, x's kept
    assert len(json.loads((project / CACHE).read_text())["entries"]) == 5
    monkeypatch.setattr("sqlmig.lint.cache.MAX_ENTRIES", 4)
    lint(vars={"column": "z"}, cache=True)
    assert len(json.loads((project / CACHE).read_text())["entries"]) == 4


def test_only_the_cli_and_callers_that_ask_use_the_cache(project: Path) -> None:
    lint(vars={"column": "x"})
    assert not (project / ".sqlmig").exists()
    assert LintCache.open(project / ".sqlmig").entries == {}


def test_a_run_answered_from_the_cache_never_loads_the_parser(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "sqlmig", "lint", "--var", "column=x"]
    subprocess.run(command, cwd=project, env=env, capture_output=True, check=False)
    probe = (
        "import sys, runpy; sys.argv = ['sqlmig', 'lint', '--var', 'column=x']\n"
        "try:\n    runpy.run_module('sqlmig', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pglast', 'jinja2')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=project, env=env, capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
    assert "20240101_000000_a.up.sql:1:" in done.stdout


def test_driver_imports_nothing_that_parses() -> None:
    probe = "import sys, sqlmig.lint.driver; print([m for m in sys.modules if m.startswith('pglast')])"
    done = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert done.stdout.strip() == "[]", done.stderr
    assert driver.lint is lint


@pytest.mark.parametrize("size", ["small", "streamed"])
def test_a_file_edited_after_discovery_is_reported_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """Findings are cached under the checksum discovery computed: the text linted must be that text, or an editor's
    save between the two reads would file the new text's findings under the old text's checksum."""
    monkeypatch.setattr(file, "STREAM_THRESHOLD", 1 << 20 if size == "streamed" else 1 << 30)
    up = tmp_path / "migrations" / "migrate" / "20240101_000000_a.up.sql"
    up.parent.mkdir(parents=True)
    # A streamed file is large (discovery keeps its stamp, not its text): a long comment makes it so.
    padding = "-- " + "x" * (2 << 20) + "\n" if size == "streamed" else ""
    good = f"-- sqlmig: no-transaction\n{padding}CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (x);\n"
    up.write_text(good)
    found = discover_tracks(tmp_path / "migrations", ("migrate",))["migrate"]
    up.write_text(f"{padding}CREATE INDEX i ON public.t (x);\n-- saved by an editor after discovery read the file\n")
    cache = LintCache.open(tmp_path / ".sqlmig")
    report = lint_files(found, TemplateContext(), cache=cache, pairs_checked=False)
    cache.save()
    assert [(f.code, f.line) for f in report.findings] == [("SQM005", 1)]
    assert "changed" in report.findings[0].message
    up.write_text(good)  # the editor's undo: the text discovery checksummed
    found = discover_tracks(tmp_path / "migrations", ("migrate",))["migrate"]
    cached = lint_files(found, TemplateContext(), cache=LintCache.open(tmp_path / ".sqlmig"), pairs_checked=False)
    assert cached.findings == lint_files(found, TemplateContext(), pairs_checked=False).findings == ()


@pytest.mark.parametrize("package", ["pglast", "jinja2"])
def test_the_code_that_parses_and_renders_is_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    """An upgrade of the parser or of the template engine changes what lint finds: it empties the cache."""
    import importlib.machinery
    import importlib.util

    fake = tmp_path / package
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> importlib.machinery.ModuleSpec | None:
        if name != package:
            return real(name, *args)  # type: ignore[arg-type]
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(fake)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    before = cache_module.code_fingerprint()
    (fake / "lexer.py").write_text("# a new release\n")
    assert cache_module.code_fingerprint() != before
