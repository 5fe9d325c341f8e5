"""sqlmig lint, the library side: every rule with a wrong and a right example, names, tracks, suppressions,
templates mapped to the lines written, files and pairs, report formats, and the project's own migrations. No
server."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlmig.checks import needs_split, validate
from sqlmig.cli.reports import lint_dict as report_dict
from sqlmig.cli.reports import lint_text as report_text
from sqlmig.files import discover_tracks, read_directives
from sqlmig.lint import RULES, LintReport, lint, lint_files
from sqlmig.lint import file as lintfile
from sqlmig.render import TemplateContext
from sqlmig.sqltext import iter_statements

from .helpers import tree

ROOT = Path(__file__).parent.parent
CONTEXT = TemplateContext(schema="tenant_1", vars={"label": "new"})
UP = "migrate/20240101_000000_t.up.sql"
DOWN = "migrate/20240101_000000_t.down.sql"
SEED_UP = "seed/20240101_000000_rows.up.sql"  # a name of its own: a name may be in one track only
SEED_DOWN = "seed/20240101_000000_rows.down.sql"
NO_TX = "-- sqlmig: no-transaction\n"
# Both rule sets: these tests check the conventions too, which a project turns on (lint_rules); safety is the default.
ALL = ("safety", "conventions")


def run(base: Path, files: dict[str, str], context: TemplateContext = CONTEXT, **options: bool) -> LintReport:
    """Lint the migrations of a tree written from ``files``; a migration without a down file gets a harmless one
    unless the test is about down files."""
    tree(base, files)
    found = discover_tracks(base)
    return lint_files([f for track in found.values() for f in track], context, rules=ALL, **options)


def lint_sql(base: Path, sql: str, track: str = "migrate", context: TemplateContext = CONTEXT) -> LintReport:
    up, down = (UP, DOWN) if track == "migrate" else (SEED_UP, SEED_DOWN)
    return run(base, {up: sql, down: "SELECT 1;\n"}, context)


def codes(report: LintReport) -> list[str]:
    return [f.code for f in report.findings]


class Case(NamedTuple):
    """A rule with an example that breaks it (``wrong``, in ``track``) and what to write instead (``right``, in
    ``right_track``). docs/lint.md's list of rules shows these very examples."""

    code: str
    track: str
    wrong: str
    right: str
    right_track: str = ""


RULE_CASES = [
    Case(
        "SQM001",
        "migrate",
        "ALTER TABLE app.items ADD COLUMN;",
        "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS note text;",
    ),
    Case("SQM003", "seed", "\\set city Lagos\nSELECT 1;", "SELECT 1;"),
    Case(
        "SQM008",
        "seed",
        "DELETE FROM master.tags WHERE name = 'old';\nCOMMIT;",
        "DELETE FROM master.tags WHERE name = 'old';",
    ),
    Case("SQM009", "seed", "SELECT pg_advisory_unlock_all();", "SELECT pg_advisory_xact_lock(42);"),
    Case("SQM010", "migrate", "-- the phone column comes later", "SELECT 1;"),
    Case(
        "SQM101",
        "migrate",
        "CREATE TABLE IF NOT EXISTS items (id int);",
        "CREATE TABLE IF NOT EXISTS app.items (id int);",
    ),
    Case(
        "SQM201",
        "seed",
        "CREATE TABLE IF NOT EXISTS master.tags (id int);",
        "CREATE TABLE IF NOT EXISTS master.tags (id int);",
        "migrate",
    ),
    Case(
        "SQM202",
        "migrate",
        "UPDATE app.items SET title = trim(title);",
        "UPDATE app.items SET title = trim(title);",
        "seed",
    ),
    Case("SQM301", "migrate", "CREATE TABLE app.items (id int);", "CREATE TABLE IF NOT EXISTS app.items (id int);"),
    Case(
        "SQM302",
        "migrate",
        "CREATE VIEW app.recent AS SELECT 1 AS id;",
        "CREATE OR REPLACE VIEW app.recent AS SELECT 1 AS id;",
    ),
    Case("SQM303", "migrate", "DROP TABLE app.items;", "DROP TABLE IF EXISTS app.items;"),
    Case(
        "SQM304",
        "seed",
        "INSERT INTO master.tags (name) VALUES ('new');",
        "INSERT INTO master.tags (name) VALUES ('new') ON CONFLICT (name) DO NOTHING;",
    ),
    Case(
        "SQM401",
        "migrate",
        "CREATE INDEX IF NOT EXISTS items_title_idx ON app.items (title);",
        NO_TX + "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_title_idx ON app.items (title);",
    ),
    Case(
        "SQM402",
        "migrate",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_title_idx ON app.items (title);",
        NO_TX + "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_title_idx ON app.items (title);",
    ),
    Case(
        "SQM403",
        "migrate",
        "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS state text NOT NULL;",
        "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'new';",
    ),
    Case(
        "SQM404",
        "migrate",
        "ALTER TABLE app.items ALTER COLUMN id TYPE bigint;",
        "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS id_new bigint;",
    ),
    Case(
        "SQM405",
        "migrate",
        "ALTER TABLE app.items ADD CONSTRAINT items_user_fk FOREIGN KEY (user_id) REFERENCES auth.users;",
        "ALTER TABLE app.items ADD CONSTRAINT items_user_fk FOREIGN KEY (user_id) REFERENCES auth.users NOT VALID;",
    ),
    Case("SQM406", "migrate", "VACUUM app.items;", "ANALYZE app.items;"),
    Case("SQM407", "migrate", "ALTER SYSTEM SET work_mem = '64MB';", "ALTER ROLE app_user SET work_mem = '64MB';"),
]
# Rules that need more than one statement or file to show, each tested below.
OTHER_TESTS = {"SQM002", "SQM004", "SQM005", "SQM006", "SQM007", "SQM102"}
# The safety rules added later have their cases in tests/test_lint_safety.py and tests/test_lint_examples.py.
OTHER_TESTS |= {f"SQM{n}" for n in range(408, 424)}


def test_every_rule_is_tested_and_well_formed() -> None:
    assert {case.code for case in RULE_CASES} | OTHER_TESTS == set(RULES)
    for code, rule in RULES.items():
        assert rule.code == code and len(code) == 6 and code.startswith("SQM") and code[3:].isdigit()
        assert rule.severity in ("error", "warning") and rule.summary and "\n" not in rule.summary


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.code for c in RULE_CASES])
def test_rule_wrong_and_right(tmp_path: Path, case: Case) -> None:
    found = lint_sql(tmp_path / "wrong", case.wrong + "\n", case.track).findings
    assert [f.code for f in found] == [case.code]
    assert found[0].severity == RULES[case.code].severity
    assert found[0].message and found[0].hint
    assert lint_sql(tmp_path / "right", case.right + "\n", case.right_track or case.track).findings == ()


# Each names an object without its schema; the comment says which.
UNQUALIFIED = [
    ("SELECT count(*) FROM items", "items"),
    ("CREATE TABLE IF NOT EXISTS app.items (user_id int REFERENCES users (id))", "users"),
    ("CREATE OR REPLACE FUNCTION touch() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", "touch"),
    ("CREATE TYPE mood AS ENUM ('ok', 'sad')", "mood"),
    ("CREATE DOMAIN positive AS int CHECK (VALUE > 0)", "positive"),
    ("CREATE TABLE IF NOT EXISTS app.items (m mood)", "mood"),
    ("DROP TABLE IF EXISTS items", "items"),
    ("DROP FUNCTION IF EXISTS touch(int)", "touch"),
    ("DROP TYPE IF EXISTS mood", "mood"),
    ("ALTER TABLE items ADD COLUMN IF NOT EXISTS note text", "items"),
    ("ALTER INDEX items_title_idx RENAME TO items_name_idx", "items_title_idx"),
    ("CREATE SEQUENCE IF NOT EXISTS item_numbers", "item_numbers"),
    ("CREATE OR REPLACE VIEW recent AS SELECT 1 AS id", "recent"),
    ("COMMENT ON TABLE items IS 'x'", "items"),
    ("COMMENT ON COLUMN items.title IS 'x'", "items"),
    ("CREATE OR REPLACE TRIGGER t BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION touch()", "touch"),
    ("GRANT SELECT ON items TO app_user", "items"),
    ("CREATE OR REPLACE FUNCTION app.n() RETURNS bigint BEGIN ATOMIC SELECT count(*) FROM items; END", "items"),
]
# None of these names an object that needs a schema.
QUALIFIED_OR_EXEMPT = [
    "WITH recent AS (SELECT id FROM app.items) SELECT count(*) FROM recent",
    "CREATE TEMP TABLE staging (id int); INSERT INTO staging VALUES (1); DROP TABLE staging",
    "SELECT lower(title), now(), gen_random_uuid(), count(*) FROM app.items WHERE id = 1",
    "CREATE TABLE IF NOT EXISTS app.t (a int, b text, c timestamptz, d uuid, e jsonb, f numeric(10, 2), g serial, "
    "h varchar(3), i boolean, j double precision, k text[], l char(2), m bytea, n inet, o interval, p date)",
    "SET search_path = app; RESET search_path; SELECT set_config('search_path', '', false)",
    "COMMENT ON TABLE app.items IS 'x'; COMMENT ON COLUMN app.items.title IS 'y'",
    "CREATE OR REPLACE FUNCTION app.f() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM items $$",
    "DO $$ BEGIN PERFORM 1 FROM items; END $$",
    "SELECT 'app.items'::regclass, '{}'::int[], 1::text",
    "GRANT USAGE ON SCHEMA app TO app_user; GRANT SELECT ON ALL TABLES IN SCHEMA app TO app_user",
    "ALTER TABLE app.items RENAME COLUMN title TO name",
    "CREATE OR REPLACE TRIGGER t BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.touch()",
    "CREATE SCHEMA IF NOT EXISTS billing",
]


@pytest.mark.parametrize(("sql", "name"), UNQUALIFIED, ids=[u[1] + ":" + u[0][:30] for u in UNQUALIFIED])
def test_unqualified_names_are_found(tmp_path: Path, sql: str, name: str) -> None:
    found = [f for f in lint_sql(tmp_path, sql + ";\n").findings if f.code == "SQM101"]
    assert len(found) == 1 and f'"{name}"' in found[0].message


@pytest.mark.parametrize("sql", QUALIFIED_OR_EXEMPT, ids=[s[:40] for s in QUALIFIED_OR_EXEMPT])
def test_qualified_and_exempt_names_pass(tmp_path: Path, sql: str) -> None:
    assert "SQM101" not in codes(lint_sql(tmp_path, sql + ";\n"))


def test_name_position_is_the_name_itself(tmp_path: Path) -> None:
    sql = "-- café ☕\r\nSELECT 'é', title\r\n  FROM app.items JOIN   users ON true;\r\n"
    (found,) = lint_sql(tmp_path, sql).findings
    assert (found.code, found.line, found.column) == ("SQM101", 3, 25)


def test_parse_error_position(tmp_path: Path) -> None:
    (found,) = lint_sql(tmp_path, "SELECT 1;\n\nSELECT 'ü', count(*)\n  FROM FROM app.items;\n").findings
    assert (found.code, found.line, found.column) == ("SQM001", 4, 8)
    assert 'syntax error at or near "FROM"' in found.message


# (track, sql, the track rule it breaks or None)
TRACK_CASES = [
    ("seed", "CREATE TABLE IF NOT EXISTS app.t (id int)", "SQM201"),
    ("seed", "GRANT SELECT ON app.items TO app_user", "SQM201"),
    ("seed", "COMMENT ON TABLE app.items IS 'x'", "SQM201"),
    ("seed", "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS x int", "SQM201"),
    ("seed", "CREATE TEMP TABLE staging (id int)", None),
    ("seed", "SELECT set_config('search_path', '', false)", None),
    ("seed", "COPY master.locations (city) FROM stdin;\nLagos\n\\.", None),
    ("seed", "DELETE FROM master.locations WHERE city = 'Lagos'", None),
    ("migrate", "INSERT INTO app.t (id) VALUES (1) ON CONFLICT DO NOTHING", "SQM202"),
    ("migrate", "DELETE FROM app.items WHERE id = 1", "SQM202"),
    ("migrate", "TRUNCATE app.items", "SQM202"),
    ("migrate", "MERGE INTO app.items i USING app.staged s ON s.id = i.id WHEN MATCHED THEN DO NOTHING", "SQM202"),
    ("migrate", "COPY app.items (id) FROM stdin;\n1\n\\.", "SQM202"),
    ("migrate", "WITH gone AS (DELETE FROM app.items RETURNING id) SELECT count(*) FROM gone", "SQM202"),
    ("migrate", "SELECT set_config('search_path', '', false)", None),
    ("migrate", "CREATE OR REPLACE FUNCTION app.f() RETURNS void BEGIN ATOMIC DELETE FROM app.items; END", None),
    ("migrate", "COPY app.items TO stdout", None),
]


@pytest.mark.parametrize(("track", "sql", "code"), TRACK_CASES, ids=[f"{c[0]}:{c[1][:40]}" for c in TRACK_CASES])
def test_tracks(tmp_path: Path, track: str, sql: str, code: str | None) -> None:
    found = {c for c in codes(lint_sql(tmp_path, sql + ";\n", track)) if c.startswith("SQM2")}
    assert found == ({code} if code else set())


# (sql, the rule it breaks or None): more cases of the idempotency and live-table rules.
STATEMENT_CASES = [
    ("ALTER TABLE app.items ADD COLUMN note text", "SQM301"),
    ("CREATE SCHEMA app", "SQM301"),
    ("CREATE EXTENSION citext", "SQM301"),
    ("CREATE SEQUENCE app.numbers", "SQM301"),
    ("CREATE MATERIALIZED VIEW app.totals AS SELECT 1 AS n", "SQM301"),
    (NO_TX + "CREATE INDEX CONCURRENTLY ON app.items (title)", "SQM301"),
    ("CREATE OR REPLACE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", None),
    ("CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", "SQM302"),
    ("CREATE PROCEDURE app.p() LANGUAGE sql AS $$ SELECT 1 $$", "SQM302"),
    ("CREATE TRIGGER t BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.touch()", "SQM302"),
    # DROP … IF EXISTS first makes the CREATE safe to run twice (before PostgreSQL 14, the only way for triggers).
    (
        "DROP TRIGGER IF EXISTS t ON app.items;\n"
        "CREATE TRIGGER t BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.touch()",
        None,
    ),
    (
        "DROP TRIGGER IF EXISTS other ON app.items;\n"
        "CREATE TRIGGER t BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.touch()",
        "SQM302",
    ),
    ("DROP VIEW IF EXISTS app.v;\nCREATE VIEW app.v AS SELECT 1 AS n", None),
    ("DROP VIEW IF EXISTS app.w;\nCREATE VIEW app.v AS SELECT 1 AS n", "SQM302"),
    ("ALTER TABLE app.items DROP COLUMN note", ("SQM303", "SQM413")),
    ("ALTER TABLE app.items DROP CONSTRAINT items_fk", "SQM303"),
    ("ALTER TABLE app.items DROP COLUMN IF EXISTS note, DROP CONSTRAINT IF EXISTS items_fk", "SQM413"),
    ("DROP SCHEMA app", "SQM303"),
    (NO_TX + "DROP INDEX CONCURRENTLY app.items_title_idx", "SQM303"),
    ("CREATE TABLE IF NOT EXISTS app.t (id int); CREATE INDEX IF NOT EXISTS t_id_idx ON app.t (id)", None),
    ("CREATE TABLE IF NOT EXISTS app.t (id int); ALTER TABLE app.t ADD COLUMN IF NOT EXISTS n int NOT NULL", None),
    ("CREATE TABLE IF NOT EXISTS app.t (id int); ALTER TABLE app.t ALTER COLUMN id TYPE bigint", None),
    # An identity fills the column (no SQM403), but computing it for every row rewrites the table.
    ("ALTER TABLE app.items ADD COLUMN IF NOT EXISTS n int GENERATED ALWAYS AS IDENTITY NOT NULL", "SQM411"),
    ("ALTER TABLE app.items ADD COLUMN IF NOT EXISTS n int PRIMARY KEY", ("SQM403", "SQM409")),
    ("ALTER TABLE app.items ADD COLUMN IF NOT EXISTS owner int DEFAULT 1 REFERENCES auth.users (id)", "SQM414"),
    # NULL in every row: PostgreSQL marks the new foreign key valid without reading the table.
    ("ALTER TABLE app.items ADD COLUMN IF NOT EXISTS owner int REFERENCES auth.users (id)", None),
    ("ALTER TABLE app.items ADD CONSTRAINT items_title_check CHECK (title <> '')", "SQM405"),
    ("ALTER TABLE app.items ADD CONSTRAINT items_title_check CHECK (title <> '') NOT VALID", None),
    ("ALTER TABLE app.items VALIDATE CONSTRAINT items_title_check", None),
    ("DROP INDEX CONCURRENTLY IF EXISTS app.items_title_idx", "SQM402"),
    ("REINDEX INDEX CONCURRENTLY app.items_title_idx", "SQM402"),
    (NO_TX + "REINDEX INDEX CONCURRENTLY app.items_title_idx", None),
    ("REINDEX (CONCURRENTLY off) INDEX app.items_title_idx", "SQM423"),
    ("REINDEX (CONCURRENTLY true) INDEX app.items_title_idx", "SQM402"),
    ("CREATE OR REPLACE FUNCTION app.f() RETURNS void BEGIN ATOMIC INSERT INTO app.log VALUES (1); END", None),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY app.totals", None),
    ("VACUUM (ANALYZE) app.items", "SQM406"),
]


@pytest.mark.parametrize(("sql", "code"), STATEMENT_CASES, ids=[c[0].removeprefix(NO_TX)[:50] for c in STATEMENT_CASES])
def test_statement_rules(tmp_path: Path, sql: str, code: str | tuple[str, ...] | None) -> None:
    expected = list(code) if isinstance(code, tuple) else [code] if code else []
    assert codes(lint_sql(tmp_path, sql + ";\n")) == expected


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("WHERE NOT EXISTS (SELECT 1 FROM master.categories WHERE name = 'Books')", None),
        ("WHERE EXISTS (SELECT 1 FROM master.categories WHERE name = 'Fiction')", "SQM304"),
        ("WHERE 'Books' NOT IN (SELECT name FROM master.categories)", "SQM304"),
    ],
)
def test_insert_of_missing_rows_only_is_idempotent(tmp_path: Path, where: str, code: str | None) -> None:
    sql = f"INSERT INTO master.categories (name) SELECT 'Books' {where};\n"
    assert codes(lint_sql(tmp_path, sql, "seed")) == ([code] if code else [])


# --- suppressions -----------------------------------------------------------------------------------------------

IGNORE = "-- sqlmig-lint: ignore SQM101 -- the search_path is set by the caller"


@pytest.mark.parametrize(
    ("sql", "left"),
    [
        (f"{IGNORE}\nSELECT count(*) FROM items;\n", []),
        (f"-- an explanation first\n{IGNORE}\n-- and another comment\nSELECT count(*)\n  FROM items;\n", []),
        (f"SELECT count(*) FROM items; {IGNORE}\n", []),
        (f"SELECT count(*)\n  FROM items  {IGNORE}\n  WHERE true;\n", []),
        (f"SELECT count(*)\n  FROM items\n  WHERE true;  {IGNORE}\n", []),
        (f"{IGNORE}\nSELECT count(*) FROM items;\nSELECT count(*) FROM users;\n", ["SQM101"]),
        (f"SELECT count(*) FROM users; SELECT count(*) FROM items; {IGNORE}\n", ["SQM101"]),
        ("-- sqlmig-lint: IGNORE sqm101, SQM202 -- a reason\nUPDATE items SET n = 1;\n", []),
    ],
    ids=["above", "comments-between", "trailing", "inner-line", "last-line", "next-only", "last-of-line", "two-codes"],
)
def test_statement_suppression(tmp_path: Path, sql: str, left: list[str]) -> None:
    assert codes(lint_sql(tmp_path, sql)) == left


def test_file_suppression_in_the_header_covers_every_statement(tmp_path: Path) -> None:
    header = "-- sqlmig: no-transaction\n-- sqlmig-lint: ignore-file SQM101 -- tenant tables live on the search_path\n"
    sql = header + "SELECT count(*) FROM items;\nSELECT count(*) FROM users;\n"
    assert codes(lint_sql(tmp_path, sql)) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (f"{IGNORE}\n\nSELECT count(*) FROM items;\n", ["SQM007", "SQM101"]),  # a blank line detaches it
        (f"{IGNORE}\nSELECT count(*) FROM app.items;\n", ["SQM007"]),
        ("-- sqlmig-lint: ignore SQM101\nSELECT count(*) FROM items;\n", ["SQM006"]),  # no reason
        ("-- sqlmig-lint: ignore SQM999, SQM101 -- why\nSELECT count(*) FROM items;\n", ["SQM006"]),
        ("-- sqlmig-lint: ignore SQM001 -- why\nSELECT FROM FROM;\n", ["SQM006", "SQM001"]),
        ("-- sqlmig-lint: ignore -- why\nSELECT count(*) FROM items;\n", ["SQM006", "SQM101"]),
        ("-- sqlmig-lint: skip SQM101 -- why\nSELECT count(*) FROM items;\n", ["SQM006", "SQM101"]),
        ("SELECT 1;\n-- sqlmig-lint: ignore-file SQM101 -- why\nSELECT count(*) FROM items;\n", ["SQM006", "SQM101"]),
        ("SELECT count(*) FROM items WHERE note = '-- sqlmig-lint: ignore SQM101 -- why';\n", ["SQM101"]),
    ],
    ids=["blank-line", "unused", "no-reason", "unknown-code", "not-suppressible", "no-code", "bad-form",
         "file-wide-too-late", "inside-a-string"],
)  # fmt: skip
def test_suppression_problems(tmp_path: Path, sql: str, expected: list[str]) -> None:
    found = lint_sql(tmp_path, sql).findings
    assert [f.code for f in found] == expected
    for f in found:
        if f.code in ("SQM006", "SQM007"):
            assert f.line == sql[: sql.index("sqlmig-lint")].count("\n") + 1 and f.hint


def test_directives_ignore_suppression_comments(tmp_path: Path) -> None:
    lines = ["-- sqlmig: no-transaction\n", "-- sqlmig-lint: ignore-file SQM101 -- why\n", "--sqlmig-lint:ignore x\n"]
    assert read_directives(lines, tmp_path / "x.up.sql") == frozenset({"no-transaction"})
    tree(tmp_path, {UP: "".join(lines) + "SELECT 1;\n"})
    (file,) = discover_tracks(tmp_path)["migrate"]
    assert file.up.directives == frozenset({"no-transaction"})


# --- templates, positions, files ------------------------------------------------------------------------------

LOOP = """-- one table per kind
{% for kind in ["a", "b"] %}
CREATE TABLE IF NOT EXISTS {{ schema | ident }}.{{ kind }} (
    id int
);
{% endfor %}
CREATE TABLE {{ schema | ident }}.c (id int);
SELECT count(*) FROM {{ schema | ident }}.a JOIN users ON true;
"""


def test_findings_in_templates_point_at_the_lines_written(tmp_path: Path) -> None:
    found = lint_sql(tmp_path, LOOP).findings
    assert [(f.code, f.line) for f in found] == [("SQM301", 7), ("SQM101", 8)]
    assert found[0].path.name == "20240101_000000_t.up.sql"


def test_template_error_is_a_finding_with_its_line(tmp_path: Path) -> None:
    (found,) = lint_sql(tmp_path, "SELECT 1;\nSELECT {{ missing }};\n").findings
    assert (found.code, found.line, found.severity) == ("SQM002", 2, "error")
    assert "missing" in found.message and "--var" in found.hint
    no_schema = lint_sql(
        tmp_path / "b", "CREATE SCHEMA IF NOT EXISTS {{ schema | ident }};\n", context=TemplateContext()
    )
    assert [(f.code, f.line) for f in no_schema.findings] == [("SQM002", 1)]


def test_large_files_are_streamed_with_their_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lintfile, "STREAM_THRESHOLD", 10)
    data = "".join(f"{i}\tcity {i}\n" for i in range(1000))
    sql = f"COPY master.locations (id, city) FROM stdin;\n{data}\\.\nINSERT INTO locations VALUES (1);\n"
    found = lint_sql(tmp_path, sql, "seed").findings
    assert [(f.code, f.line) for f in found] == [("SQM101", 1003), ("SQM304", 1003)]


@pytest.mark.parametrize("threshold", [10, 1 << 30], ids=["streamed", "in-memory"])
def test_a_lone_carriage_return_is_data_not_a_line_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    """As the runner reads a file (streamed or not), and as psql does: a CR without LF is part of the string."""
    monkeypatch.setattr(lintfile, "STREAM_THRESHOLD", threshold)
    sql = "INSERT INTO master.notes (t) VALUES ('a\rb') ON CONFLICT DO NOTHING;\r\nINSERT INTO notes VALUES (1);\n"
    found = lint_sql(tmp_path, sql, "seed").findings
    assert [(f.code, f.line) for f in found] == [("SQM101", 2), ("SQM304", 2)]


def test_missing_down_file(tmp_path: Path) -> None:
    report = run(tmp_path, {UP: "SELECT 1;\n"})
    (found,) = report.findings
    assert (found.code, found.severity, found.line, found.path.name) == (
        "SQM004",
        "warning",
        1,
        "20240101_000000_t.up.sql",
    )
    assert report.files == 1
    assert run(tmp_path, {}, pairs_checked=False).findings == ()
    header = "-- sqlmig-lint: ignore-file SQM004 -- dropping data cannot be undone\nSELECT 1;\n"
    assert run(tmp_path / "b", {UP: header}).findings == ()


CREATE_SCHEMA = "migrate/00000000_000000_create_schemas.up.sql"


@pytest.mark.parametrize(
    ("files", "complete", "expected"),
    [
        (
            {UP: "CREATE SCHEMA IF NOT EXISTS app;\n", "migrate/20240102_000000_u.up.sql": "SELECT * FROM app.t;\n"},
            True,
            [],
        ),
        (
            {UP: "SELECT * FROM app.t;\n", "migrate/20240102_000000_s.up.sql": "CREATE SCHEMA IF NOT EXISTS app;\n"},
            False,
            [("20240101_000000_t.up.sql", 1, "before 20240102_000000_s creates it")],
        ),
        (
            {UP: "SELECT 1;\nSELECT * FROM app.t JOIN app.u ON true;\nCREATE SCHEMA IF NOT EXISTS app;\n"},
            False,
            [("20240101_000000_t.up.sql", 2, "before 20240101_000000_t creates it")],
        ),
        ({UP: "SELECT * FROM billing.t;\n"}, True, [("20240101_000000_t.up.sql", 1, "no migration creates it")]),
        ({UP: "SELECT * FROM billing.t;\n"}, False, []),
        ({UP: "SELECT * FROM public.t, pg_catalog.pg_class, information_schema.tables, pg_temp.x;\n"}, True, []),
        ({CREATE_SCHEMA: "CREATE SCHEMA IF NOT EXISTS app;\n", SEED_UP: "DELETE FROM app.t;\n"}, True, []),
        ({DOWN: "DROP TABLE IF EXISTS billing.t;\n", UP: "SELECT 1;\n"}, True, []),
        ({UP: "GRANT USAGE ON SCHEMA billing TO app_user;\n"}, True, [("20240101_000000_t.up.sql", 1, "no migration")]),
    ],
    ids=[
        "created-first",
        "created-later",
        "same-file-later",
        "never-complete",
        "never-partial",
        "system-schemas",
        "seed-after-migrate",
        "down-files",
        "grant",
    ],
)
def test_schemas_are_created_before_use(
    tmp_path: Path, files: dict[str, str], complete: bool, expected: list[tuple[str, int, str]]
) -> None:
    found = run(tmp_path, files, pairs_checked=False, complete=complete).findings
    assert [f.code for f in found] == ["SQM102"] * len(expected)
    assert [(f.path.name, f.line) for f in found] == [(name, line) for name, line, _ in expected]
    assert all(text in f.message for f, (_, _, text) in zip(found, expected, strict=True))


# --- lint(): paths, configuration, problems with files, reports -------------------------------------------------


def test_lint_paths_files_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(
        tmp_path / "db",
        {
            CREATE_SCHEMA: "CREATE SCHEMA IF NOT EXISTS app;\n",
            CREATE_SCHEMA.replace(".up.", ".down."): "DROP SCHEMA IF EXISTS app;\n",
            UP: "CREATE TABLE IF NOT EXISTS items (id int);\n",
            DOWN: "DROP TABLE items;\n",
            "migrate/20240102_000000_u.up.sql": "SELECT 1;\n",
            SEED_UP: "INSERT INTO app.t VALUES (1);\n",
            SEED_DOWN: "SELECT 1;\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    everything = lint("db", rules=ALL)
    assert everything.files == 7
    assert sorted(codes(everything)) == ["SQM004", "SQM101", "SQM101", "SQM303", "SQM304"]
    assert codes(lint(paths=["db/seed"], rules=ALL)) == ["SQM304"]
    one = lint(paths=[tmp_path / "db" / DOWN], rules=ALL)  # one file of a migration: both are linted
    assert (one.files, sorted(codes(one))) == (2, ["SQM101", "SQM101", "SQM303"])
    assert lint(paths=["db/migrate", "db/migrate/20240102_000000_u.up.sql"], rules=ALL).files == 5


def test_lint_uses_the_configured_folder_schema_and_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"pyproject.toml": '[tool.sqlmig]\ndirectory = "db"\nschema = "s1"\n'})
    tree(tmp_path / "db", {UP: "SELECT {{ n | literal }} FROM {{ schema }}.t;\n", DOWN: "SELECT 1;\n"})
    monkeypatch.chdir(tmp_path)
    assert codes(lint(rules=ALL)) == ["SQM002"]
    (found,) = lint(vars={"n": 1}, rules=ALL).findings
    assert found.code == "SQM102" and '"s1"' in found.message
    assert lint(vars={"n": 1}, schema="public", rules=ALL).findings == ()
    assert lint(tmp_path / "nowhere").findings[0].code == "SQM005"


def test_files_sqlmig_refuses_are_findings_and_the_rest_is_linted(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            UP: "SELECT count(*) FROM items;\n",
            DOWN: "SELECT 1;\n",
            "migrate/2024_bad.up.sql": "SELECT 1;\n",
            "migrate/20240103_000000_x.up.sql": "-- sqlmig: no-transactoin\nSELECT 1;\n",
            "migrate/20240104_000000_orphan.down.sql": "SELECT 1;\n",
        },
    )
    report = lint(tmp_path, rules=ALL)
    problems = [(f.path.name, f.line) for f in report.findings if f.code == "SQM005"]
    assert sorted(problems) == [
        ("20240103_000000_x.up.sql", 1),
        ("20240104_000000_orphan.down.sql", 1),
        ("2024_bad.up.sql", 1),
    ]
    assert [f.code for f in report.findings if f.code != "SQM005"] == ["SQM101"]
    assert all(f.severity == "error" and f.hint for f in report.findings)


def test_a_name_in_both_tracks_is_a_finding_whatever_is_linted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = "20240101_000000_t"
    tree(tmp_path, {UP: "SELECT 1;\n", DOWN: "SELECT 1;\n", f"seed/{shared}.up.sql": "SELECT 1;\n"})
    tree(tmp_path, {f"seed/{shared}.down.sql": "SELECT 1;\n"})
    monkeypatch.chdir(tmp_path)
    both = [(f.code, f.path.parent.name, f.path.name) for f in lint(tmp_path).findings]
    assert both == [("SQM005", "migrate", f"{shared}.up.sql"), ("SQM005", "seed", f"{shared}.up.sql")]
    for target in ("migrate", f"migrate/{shared}.down.sql", "seed", f"seed/{shared}.up.sql"):
        (found,) = lint(paths=[target]).findings
        other = "seed" if target.startswith("migrate") else "migrate"
        assert (found.code, found.severity, found.path.parent.name) == ("SQM005", "error", target.split("/")[0])
        assert found.message.startswith(f"the name {shared} is also used in {other}/ (")
        assert found.hint.startswith("sqlmig refuses to run until it is fixed")


def test_lint_reads_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {UP: "CREATE TABLE items (id int);\n"})
    monkeypatch.chdir(tmp_path)
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    lint(tmp_path)
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_report_text_and_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {UP: "SELECT 1;\nDROP TABLE public.items;\n"})
    monkeypatch.chdir(tmp_path)
    report = lint(tmp_path, rules=ALL)
    path = os.path.join("migrate", "20240101_000000_t.up.sql")
    assert report_text(report) == (
        f"{path}:1:1: SQM004 warning: this migration has no .down.sql, so it cannot be rolled back\n"
        f"    hint: {report.findings[0].hint}\n"
        f"{path}:2:1: SQM303 error: DROP TABLE without IF EXISTS fails when it is already gone\n"
        "    hint: write DROP TABLE IF EXISTS\n"
        "checked 1 file: 1 error, 1 warning\n"
    )
    data = report_dict(report)
    assert data["files"] == 1 and data["errors"] == 1 and data["warnings"] == 1
    assert data["findings"][1] == {
        "code": "SQM303",
        "severity": "error",
        "path": path,
        "line": 2,
        "column": 1,
        "message": "DROP TABLE without IF EXISTS fails when it is already gone",
        "hint": "write DROP TABLE IF EXISTS",
    }
    assert report_text(LintReport((), 3)) == "checked 3 files: no problems found\n"
    assert [f.code for f in report.errors] == ["SQM303"] and [f.code for f in report.warnings] == ["SQM004"]


def test_the_project_migrations_are_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the project's pyproject.toml holds the variables its templates use
    report = lint()
    assert report.findings == ()
    assert report.files == len(list((ROOT / "migrations").rglob("*.sql")))


# --- the one validation (sqlmig.checks): what up, --dry-run, verify and lint refuse -----------------------------

# (SQL, transactional, the codes of what is found)
VALIDATION = [
    ("SELECT 1;\nCOMMIT;", True, ["SQM008"]),
    ("SELECT 1;\nCOMMIT;", False, []),  # a no-transaction file manages its own transactions
    ("start transaction;\nSELECT 1;\nend;", True, ["SQM008", "SQM008"]),
    ("ROLLBACK AND CHAIN;", True, ["SQM008"]),
    ("/* x */ Abort;", True, ["SQM008"]),
    ("SAVEPOINT a;\nSELECT 1;\nROLLBACK TO SAVEPOINT a;\nRELEASE a;", True, []),
    ("ROLLBACK /* not to */ TO a;", True, []),
    ("PREPARE q AS SELECT 1;\nEXECUTE q;", True, []),
    ("CREATE FUNCTION app.f() RETURNS int BEGIN ATOMIC SELECT 1; END;", True, []),
    ("DISCARD ALL;", False, ["SQM009"]),
    ("DISCARD TEMP;\nDISCARD PLANS;\nDISCARD SEQUENCES;", True, []),  # the lock stays
    ("SELECT pg_advisory_unlock(1), PG_ADVISORY_UNLOCK_SHARED(2);", True, ["SQM009"]),
    ("SELECT 'pg_advisory_unlock_all()' AS doc; -- pg_advisory_unlock(1)", True, []),
    ("SELECT pg_advisory_xact_lock(7);", True, []),
    ("CREATE FUNCTION app.f() RETURNS void BEGIN ATOMIC SELECT pg_advisory_unlock_all(); END;", True, []),
    ("DO $$ BEGIN PERFORM PG_ADVISORY_UNLOCK_ALL(); END $$;", False, ["SQM009"]),
    ("\\set x 1\nSELECT 1;", False, ["SQM003"]),
    ("SELECT format('CREATE TABLE %I ()', 'x') \\gexec", False, ["SQM003"]),
    ("SELECT 1 \\g\nSELECT 2;", True, ["SQM003"]),
    ("SELECT 1;\nSELECT 2 \\x \\\\ SELECT 3;", True, ["SQM003"]),
    ("SELECT E'\\\\', '\\', $$\\$$, \"a\\b\", U&'\\0041' /* \\g */; -- \\gexec", True, []),
    ("COPY (SELECT 1) TO STDOUT;", True, ["SQM003"]),
    ("copy app.t (a) to\n stdout with (format csv);", False, ["SQM003"]),
    ("COPY app.t TO '/tmp/t.csv';\nCOPY app.t TO PROGRAM 'cat';\nCOPY app.t FROM stdin;\n\\.", True, []),
    ("-- only a comment\n;", True, ["SQM010"]),
    ("", False, ["SQM010"]),
]


@pytest.mark.parametrize(("sql", "transactional", "found"), VALIDATION)
def test_validation(sql: str, transactional: bool, found: list[str]) -> None:
    problems = validate(iter_statements(io.StringIO(sql)), transactional=transactional, templated=False)
    assert [p.code for p in problems] == found
    assert all(p.refused == (p.code != "SQM010") and p.message and p.advice for p in problems)


def test_a_template_may_render_to_nothing() -> None:
    assert validate(iter_statements(io.StringIO("\n")), transactional=True, templated=True) == []


def test_a_refusal_names_the_line_and_column() -> None:
    sql = "SELECT 1;\n\nSELECT 2,\n  pg_advisory_unlock_all();\n  COMMIT;\n"
    problems = validate(iter_statements(io.StringIO(sql)), transactional=True, templated=False)
    assert [(p.line, p.column, p.code) for p in problems] == [(4, 3, "SQM009"), (5, 3, "SQM008")]


_FRAGMENTS = st.sampled_from(
    [
        "SELECT 1",
        ";",
        " ",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "-- c",
        "/* c */",
        "/* a /* b */ c */",
        "'",
        "'x'",
        "$$",
        '"',
        "COMMIT",
        "commit",
        "Begin",
        "END",
        "rollback",
        "ROLLBACK TO a",
        "start transaction",
        "abort",
        "x",
        "PREPARE TRANSACTION 'p'",
        "DISCARD ALL",
        "discard temp",
        "pg_advisory_unlock_all()",
        "\\",
        "\\c db",
        "pg_ADVISORY_unlock(1)",
        "DO $$ BEGIN PERFORM pg_advisory_unlock(1); END $$",
        "COPY t FROM stdin",
        "\\.",
        "SELECT 1 \\gexec",
        "COPY t TO STDOUT",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=30), st.booleans(), st.integers(min_value=1, max_value=5))
def test_needs_split_never_misses_a_refusal(fragments: list[str], transactional: bool, every: int) -> None:
    """The cheap pass over a large file's bytes says False only when the statement-by-statement check refuses
    nothing, however the file is cut into chunks at line ends."""
    text = "".join(fragments)
    problems = validate(iter_statements(io.StringIO(text)), transactional=transactional, templated=False)
    lines = text.encode().splitlines(keepends=True)
    chunks = [b"".join(lines[i : i + every]) for i in range(0, len(lines), every)]
    if any(p.refused for p in problems):
        assert needs_split(chunks)


def test_needs_split_lets_plain_data_through() -> None:
    rows = b"INSERT INTO app.t VALUES\n(1, 'the end'),\n(2, 'begin, commit'),\n(3, 'a -- b');\n" * 1000
    assert not needs_split([b"-- a seed\n" + rows, rows])
    assert needs_split([rows, rows + b"  COMMIT;\n"])
    assert needs_split([rows, rows + b"SELECT 1 \\g\n"])
    assert needs_split([rows + b"COPY (SELECT 1) TO\nSTDOUT;\n"])


def test_meta_command_after_sql_names_the_command_and_its_place() -> None:
    sql = "SELECT 1;\nSELECT 'a\\b',\n  'CREATE TABLE app.x ()' \\gexec\n"
    problems = validate(iter_statements(io.StringIO(sql)), transactional=True, templated=False)
    assert [(p.line, p.column, p.code) for p in problems] == [(3, 27, "SQM003")]
    assert problems[0].message.startswith("\\gexec is a psql meta-command")
    assert "EXECUTE in a DO block" in problems[0].advice
    assert needs_split([b"COPY app.t FROM stdin;\n1\n\\.\n"])  # COPY data goes to the splitter, which skips it fast
