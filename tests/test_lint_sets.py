"""Lint rule sets (safety on by default, conventions on when chosen, the file rules always), the conventions that
respect the file's own search_path and report each cause once, and ``up --lint`` on the pending files only."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli import main
from sqlmig.config import Settings, load
from sqlmig.errors import ConfigError
from sqlmig.files import discover_tracks
from sqlmig.lint import RULES, LintReport, lint, lint_files
from sqlmig.lint.sets import CONVENTION_RULES, FILE_RULES, rule_set, select
from sqlmig.render import TemplateContext

from .helpers import history, tree

Conn = psycopg.Connection[tuple[object, ...]]

UP = "migrate/20240101_000000_t.up.sql"
DOWN = "migrate/20240101_000000_t.down.sql"
# A convention (SQM101: no schema) and a safety rule (SQM401: CREATE INDEX on a table in use) broken at once.
BOTH = "CREATE INDEX IF NOT EXISTS items_name ON items (name);\n"


def run(base: Path, files: dict[str, str], rules: object = None) -> LintReport:
    tree(base, files)
    found = discover_tracks(base)
    migrations = [f for track in found.values() for f in track]
    return lint_files(migrations, TemplateContext(), rules=rules)  # type: ignore[arg-type]


def codes(report: LintReport) -> list[str]:
    return [f.code for f in report.findings]


def test_every_rule_has_a_set() -> None:
    assert {rule_set(code) for code in RULES} == {"file", "safety", "conventions"}
    assert set(RULES) >= FILE_RULES | CONVENTION_RULES
    assert [c for c in RULES if c.startswith("SQM4")] == [c for c in RULES if rule_set(c) == "safety"]
    assert rule_set("SQM499") == "safety"  # a rule added later is a safety rule without touching the sets


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (None, ["SQM401"]),
        (["safety"], ["SQM401"]),
        (["conventions"], ["SQM101"]),
        (["safety", "conventions"], ["SQM101", "SQM401"]),
        (["safety", "sqm101"], ["SQM101", "SQM401"]),
        ([], []),
    ],
    ids=["default", "safety", "conventions", "both", "a-single-code", "none"],
)
def test_only_the_selected_rules_are_reported(tmp_path: Path, rules: list[str] | None, expected: list[str]) -> None:
    down = "-- sqlmig: no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS public.items_name;\n"  # breaks no rule
    report = run(tmp_path, {UP: BOTH, DOWN: down}, rules)
    assert sorted(codes(report)) == expected


def test_the_file_rules_are_always_reported(tmp_path: Path) -> None:
    files = {UP: "CREATE TABLE items (;\n-- sqlmig-lint: ignore SQM401\n", DOWN: "SELECT 1;\n"}
    assert codes(run(tmp_path, files, [])) == ["SQM001", "SQM006", "SQM007"]


def test_a_suppression_of_a_rule_not_selected_is_still_used(tmp_path: Path) -> None:
    sql = "-- sqlmig-lint: ignore SQM101 -- a scratch table of the session's schema\n" + BOTH
    assert codes(run(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"})) == ["SQM401"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["safety", "style"]', "lint_rules: unknown rule set or rule 'style'; valid: safety, conventions"),
        ('"safety"', 'lint_rules must be a list such as ["safety", "conventions"]'),
        ('["SQM999"]', "lint_rules: unknown rule set or rule SQM999; valid: safety, conventions or a rule code"),
    ],
    ids=["unknown-set", "not-a-list", "unknown-code"],
)
def test_lint_rules_must_name_sets_or_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    tree(tmp_path, {"pyproject.toml": f"[tool.sqlmig]\nlint_rules = {value}\n", UP: "SELECT 1;\n"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        lint()
    assert message in str(caught.value)


def test_lint_rules_in_the_configuration_and_from_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"pyproject.toml": '[tool.sqlmig]\nlint_rules = ["conventions"]\n'})
    tree(tmp_path / "migrations", {UP: BOTH, DOWN: "SELECT 1;\n"})
    monkeypatch.chdir(tmp_path)
    assert load().lint_rules == ("conventions",) and Settings().lint_rules == ("safety",)
    assert codes(lint()) == ["SQM101"]
    assert codes(lint(rules=["safety"])) == ["SQM401"]
    assert select(["Safety", "sqm101"]).names == ("safety", "SQM101")


def test_cli_rules_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path / "migrations", {UP: BOTH, DOWN: "SELECT 1;\n"})
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    default = runner.invoke(main, ["lint", "--no-cache"])
    assert default.exit_code == 4 and "SQM401" in default.output and "SQM101" not in default.output
    both = runner.invoke(main, ["lint", "--no-cache", "--rules", "safety, conventions"])
    assert "SQM401" in both.output and "SQM101" in both.output
    wrong = runner.invoke(main, ["lint", "--no-cache", "--rules", "safety,SQM999"])
    assert wrong.exit_code == 5 and "rules: unknown rule set or rule SQM999" in wrong.output


# --- SQM101 and the file's own search_path -----------------------------------------------------------------------

NAMED = "CREATE TABLE IF NOT EXISTS items (id int);\n"


@pytest.mark.parametrize(
    ("sql", "reported"),
    [
        ("SET search_path = app;\n", False),
        ("SET search_path TO app, public;\n", False),
        ("SET LOCAL search_path = app;\n", False),
        ("SET SCHEMA 'app';\n", False),
        ("SELECT set_config('search_path', 'app, public', false);\n", False),
        ("SELECT pg_catalog.set_config('search_path', 'app', true);\n", False),
        ("SELECT set_config('search_path', current_setting('app.schema'), false);\n", False),
        ("", True),
        ('SET search_path = "$user", public;\n', True),
        ("SELECT set_config('search_path', '\"$user\", public', false);\n", True),
        ("SET search_path = '';\n", True),
        ("SET search_path = app;\nRESET search_path;\n", True),
        ("SET search_path = app;\nRESET ALL;\n", True),
        ("SET search_path = app;\nSET search_path TO DEFAULT;\n", True),
        ("SET search_path = app;\nSET search_path FROM CURRENT;\n", True),
        ("SET work_mem = '64MB';\n", True),
        ("-- sqlmig: no-transaction\nSET LOCAL search_path = app;\n", True),
        ("-- sqlmig: no-transaction\nSET search_path = app;\n", False),
        ("-- sqlmig: no-transaction\nBEGIN;\nSET LOCAL search_path = app;\n", False),
        ("-- sqlmig: no-transaction\nBEGIN;\nSET LOCAL search_path = app;\nCOMMIT;\n", True),
        ("-- sqlmig: no-transaction\nSET search_path = app;\nBEGIN;\nSET LOCAL search_path = '';\nCOMMIT;\n", False),
    ],
    ids=[
        "set",
        "set-several",
        "set-local",
        "set-schema",
        "set-config",
        "set-config-local",
        "set-config-expression",
        "nothing",
        "user-schema",
        "set-config-user-schema",
        "empty",
        "reset",
        "reset-all",
        "default",
        "from-current",
        "another-setting",
        "local-outside-a-transaction",
        "session-without-a-transaction",
        "local-in-a-block",
        "local-after-its-block",
        "session-after-a-local-block",
    ],
)
def test_sqm101_respects_the_files_search_path(tmp_path: Path, sql: str, reported: bool) -> None:
    report = run(tmp_path, {UP: sql + NAMED, DOWN: "SELECT 1;\n"}, ["conventions"])
    assert [f.code for f in report.findings if f.code == "SQM101"] == (["SQM101"] if reported else [])


def test_a_name_before_the_search_path_is_set_is_still_reported(tmp_path: Path) -> None:
    sql = "CREATE TABLE IF NOT EXISTS a (id int);\nSET search_path = app;\nCREATE TABLE IF NOT EXISTS b (id int);\n"
    (found,) = run(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}, ["conventions"]).findings
    assert (found.code, found.line) == ("SQM101", 1)


# --- each cause once ----------------------------------------------------------------------------------------------


def test_an_unqualified_name_is_reported_once_per_file(tmp_path: Path) -> None:
    sql = (
        "CREATE TABLE IF NOT EXISTS items (id int);\n"
        "COMMENT ON TABLE items IS 'x';\n"
        "CREATE INDEX IF NOT EXISTS items_id ON items (id);\n"
        "CREATE TABLE IF NOT EXISTS other (id int);\n"
    )
    found = run(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}, ["conventions"]).findings
    assert [(f.code, f.line) for f in found] == [("SQM101", 1), ("SQM101", 4)]
    assert found[0].message.startswith('table "items" is not schema-qualified')
    assert found[0].message.endswith("(and 2 more times in this file)")
    assert "more" not in found[1].message


def test_data_changes_in_the_migrate_track_are_reported_once_per_file(tmp_path: Path) -> None:
    sql = "UPDATE public.a SET x = 1 WHERE x IS NULL;\nUPDATE public.b SET y = 2 WHERE y IS NULL;\n"
    sql += "DELETE FROM public.c WHERE z;\n"
    (found,) = run(tmp_path, {UP: sql, DOWN: "SELECT 1;\n"}, ["conventions"]).findings
    assert (found.code, found.line) == ("SQM202", 1)
    assert found.message.endswith("(and 2 more data changes in this file)")


def test_a_missing_schema_is_reported_once_for_the_whole_run(tmp_path: Path) -> None:
    files = {
        f"migrate/2024010{i}_000000_m{i}.up.sql": "SELECT * FROM billing.a;\nSELECT * FROM billing.b, app.c;\n"
        for i in range(1, 4)
    }
    files.update({k.replace(".up.", ".down."): "SELECT 1;\n" for k in files})
    tree(tmp_path, files)
    found = discover_tracks(tmp_path)
    report = lint_files(found["migrate"], TemplateContext(), complete=True, rules=["conventions"])
    billing, app = report.findings
    assert (billing.path.name, billing.line) == ("20240101_000000_m1.up.sql", 1)
    assert (
        billing.message
        == 'schema "billing" is used, but no migration creates it (and 5 more statements use it, in 3 files)'
    )
    assert (app.line, app.message.endswith("(and 2 more statements use it, in 3 files)")) == (2, True)


def test_the_project_turns_conventions_on() -> None:
    assert load(cwd=Path(__file__).parent.parent).lint_rules == ("safety", "conventions")


# --- up --lint: only the files not applied yet --------------------------------------------------------------------


def test_up_lint_checks_only_pending_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, db: Conn
) -> None:
    monkeypatch.chdir(tmp_path)  # the project's pyproject.toml turns the conventions on
    unsafe = "CREATE INDEX IF NOT EXISTS t_x ON public.t (x);\n"  # SQM401: an error only in a strict project
    tree(tmp_path, {"pyproject.toml": '[tool.sqlmig]\nlint_rules = ["safety", "conventions"]\n'})
    migrations = tree(
        tmp_path / "migrations",
        {
            "migrate/20240101_000000_t.up.sql": "CREATE TABLE IF NOT EXISTS t (x int);\n",  # SQM101, an error
            "migrate/20240101_000000_t.down.sql": "DROP TABLE IF EXISTS public.t;\n",
        },
    )
    sqlmig.apply(db_url, migrations)
    tree(migrations, {"migrate/20240102_000000_i.up.sql": unsafe, "migrate/20240102_000000_i.down.sql": "SELECT 1;\n"})
    # The applied file still breaks SQM101, and does not stop up --lint: only the pending one is checked.
    assert [f.code for f in lint(migrations, rules=["conventions"]).errors] == ["SQM101"]
    assert sqlmig.apply(db_url, migrations, lint=True).names == ("20240102_000000_i",)
    tree(migrations, {"migrate/20240103_000000_j.up.sql": "CREATE TABLE IF NOT EXISTS j (x int);\n"})
    tree(migrations, {"migrate/20240103_000000_j.down.sql": "DROP TABLE IF EXISTS public.j;\n"})
    with pytest.raises(sqlmig.LintError) as caught:
        sqlmig.apply(db_url, migrations, lint=True)
    assert [(f.code, f.path.name) for f in caught.value.findings] == [("SQM101", "20240103_000000_j.up.sql")]
    assert history(db) == ["20240101_000000_t", "20240102_000000_i"]


# --- sqlmig init: a new project gets the conventions ---------------------------------------------------------------


def test_init_starts_a_project_with_conventions_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Created migrations/migrate/",
        "Created migrations/seed/",
        "Created pyproject.toml",
    ]
    assert load().lint_rules == ("safety", "conventions")
    again = CliRunner().invoke(main, ["init"])
    assert again.output == "Left pyproject.toml as it is: it has a [tool.sqlmig] table already\n"


def test_init_refuses_a_pyproject_that_is_not_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Appending to it would leave it unreadable still; nothing is created."""
    (tmp_path / "pyproject.toml").write_text("[project\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 5 and "invalid TOML" in result.output
    assert (tmp_path / "pyproject.toml").read_text() == "[project\n" and not (tmp_path / "migrations").exists()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('[project]\nname = "app"', '[project]\nname = "app"\n\n[tool.sqlmig]\n'),
        ('[project]\nname = "app"\n', '[project]\nname = "app"\n\n[tool.sqlmig]\n'),
        ('[tool.sqlmig]\nlint_rules = ["safety"]\n', None),
        ('[tool.sqlmig.targets]\nschemas = ["a"]\n', None),
        ("[tool]\nsqlmig = { lint = true }\n", None),
        ('[tool]\nsqlmig.schema = "app"\n', None),
        ('[ tool . "sqlmig" ]\nschema = "app"\n', None),
    ],
    ids=["appended", "appended-after-newline", "kept", "kept-subtable", "kept-inline", "kept-dotted", "kept-quoted"],
)
def test_init_appends_to_pyproject_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str, after: str | None
) -> None:
    (tmp_path / "pyproject.toml").write_text(before)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "--dir", "db"])
    assert result.exit_code == 0 and (tmp_path / "db" / "seed").is_dir()
    text = (tmp_path / "pyproject.toml").read_text()
    if after is None:
        assert text == before
    else:
        assert text.startswith(after) and text.endswith('lint_rules = ["safety", "conventions"]\ndirectory = "db"\n')
        assert load().directory == tmp_path / "db"


def test_findings_come_in_the_order_the_files_run(tmp_path: Path) -> None:
    """SQM102 is decided once every file is read; its finding still comes with its own file, before the newer
    files' findings, and an up file's findings before its down file's."""
    b_up = "CREATE SCHEMA IF NOT EXISTS app;\nCREATE INDEX IF NOT EXISTS i ON app.x (c);\n"
    files = {
        "migrate/20240101_000000_a.up.sql": "CREATE TABLE IF NOT EXISTS app.a (id int);\n",
        "migrate/20240101_000000_a.down.sql": "DROP TABLE IF EXISTS app.a;\n",
        "migrate/20240102_000000_b.up.sql": b_up,
        "migrate/20240102_000000_b.down.sql": "DROP INDEX IF EXISTS app.i;\n",
    }
    report = run(tmp_path, files, ["safety", "conventions"])
    assert [(f.path.name, f.code) for f in report.findings] == [
        ("20240101_000000_a.up.sql", "SQM102"),
        ("20240102_000000_b.up.sql", "SQM401"),
        ("20240102_000000_b.down.sql", "SQM410"),
    ]
