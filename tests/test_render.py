"""Templates: golden files, strictness, quoting filters, errors with file and line. No server.

Regenerate the golden files with ``SQLMIG_UPDATE_GOLDEN=1 pytest tests/test_render.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sqlmig.errors import RenderError
from sqlmig.files import discover
from sqlmig.model import MigrationFile
from sqlmig.render import TemplateContext, quote_ident, quote_literal, render, source_position

GOLDEN = Path(__file__).parent / "golden" / "render"
CONTEXT = TemplateContext(schema="tenant_42", vars={"default_label": "it's new"}, env={"APP_ROLE": "app_user"})


def one_file(tmp_path: Path, text: str | bytes, name: str = "20240101_000000_t.up.sql") -> MigrationFile:
    path = tmp_path / "migrate" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    (file,) = discover(tmp_path, "migrate")
    return file


@pytest.mark.parametrize("case", sorted(p.name[: -len(".up.sql")] for p in GOLDEN.glob("*.up.sql")))
def test_golden(tmp_path: Path, case: str) -> None:
    file = one_file(tmp_path, (GOLDEN / f"{case}.up.sql").read_bytes())
    rendered = render(file, "up", CONTEXT).sql
    golden = GOLDEN / f"{case}.golden.sql"
    if os.environ.get("SQLMIG_UPDATE_GOLDEN"):
        golden.write_text(rendered or "", encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('x"; DROP TABLE users; --', '"x""; DROP TABLE users; --"'),
        ("Mixed Case", '"Mixed Case"'),
    ],
)
def test_ident_quotes(value: str, expected: str) -> None:
    assert quote_ident(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("it's", "'it''s'"),
        ("x'); DROP TABLE users; --", "'x''); DROP TABLE users; --'"),
        ("back\\slash", "E'back\\\\slash'"),
        (None, "NULL"),
        (7, "7"),
    ],
)
def test_literal_quotes(value: object, expected: str) -> None:
    assert quote_literal(value) == expected


def test_malicious_schema_through_ident_stays_one_identifier(tmp_path: Path) -> None:
    file = one_file(tmp_path, "CREATE SCHEMA {{ schema | ident }};\n")
    sql = render(file, "up", TemplateContext(schema='s"; DROP TABLE x; --')).sql
    assert sql == 'CREATE SCHEMA "s""; DROP TABLE x; --";\n'


def test_untemplated_file_is_used_as_is(tmp_path: Path) -> None:
    text = "-- sqlmig: no-template\nSELECT '{{1,2},{3,4}}'::int[];\n"
    file = one_file(tmp_path, text)
    migration = render(file, "up", CONTEXT)
    assert migration.sql == text
    assert migration.rendered_checksum == file.up.checksum


def test_array_literal_without_directive_fails_with_line_and_hint(tmp_path: Path) -> None:
    file = one_file(tmp_path, "SELECT 1;\n\nSELECT '{{1,2},{3,4}}'::int[];\n")
    with pytest.raises(RenderError) as info:
        render(file, "up", CONTEXT)
    assert info.value.line == 3
    assert info.value.path == file.up.path
    assert "-- sqlmig: no-template" in str(info.value)


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    file = one_file(tmp_path, "SELECT 1;\nSELECT {{ tenant_id }};\n")
    with pytest.raises(RenderError) as info:
        render(file, "up", CONTEXT)
    assert info.value.line == 2
    assert "tenant_id" in str(info.value) and "is undefined" in str(info.value)
    assert str(file.up.path) in str(info.value)


def test_schema_missing_says_how_to_pass_it(tmp_path: Path) -> None:
    file = one_file(tmp_path, "CREATE TABLE {{ schema }}.t (a int);\n")
    with pytest.raises(RenderError, match="--schema"):
        render(file, "up", TemplateContext())


def test_environment_variable_must_be_allowed(tmp_path: Path) -> None:
    file = one_file(tmp_path, "SELECT {{ env.SECRET }};\n")
    with pytest.raises(RenderError, match="SECRET") as info:
        render(file, "up", TemplateContext(env={}))
    assert "[tool.sqlmig] env = [...]" in info.value.hint


def test_rendered_checksum_differs_from_raw(tmp_path: Path) -> None:
    file = one_file(tmp_path, "CREATE TABLE {{ schema }}.t (a int);\n")
    migration = render(file, "up", CONTEXT)
    assert migration.sql == "CREATE TABLE tenant_42.t (a int);\n"
    assert migration.rendered_checksum != file.up.checksum


def test_source_position_maps_rendered_lines_back(tmp_path: Path) -> None:
    text = "{% for n in range(3) %}\nCREATE TABLE t{{ n }} (id int);\n{% endfor %}\nSELECT oops;\n"
    file = one_file(tmp_path, text)
    rendered = render(file, "up", CONTEXT).sql or ""
    line = rendered.splitlines().index("SELECT oops;") + 1
    assert source_position(file.up, rendered, line, 8) == (4, 8)
    # A line produced by the loop maps back to the loop body and loses its column.
    assert source_position(file.up, rendered, 2, 5) == (2, 1)
