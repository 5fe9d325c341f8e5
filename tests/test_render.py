"""Templates: golden files, strictness, quoting filters, errors with file and line. No server.

Regenerate the golden files with ``SQLMIG_UPDATE_GOLDEN=1 pytest tests/test_render.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sqlmig.errors import RenderError
from sqlmig.files import discover, scan_file
from sqlmig.model import MigrationFile
from sqlmig.render import (
    TemplateContext,
    quote_ident,
    quote_literal,
    render,
    render_source,
    render_text,
    source_position,
)

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


def test_any_sql_file_renders_with_the_template_context(tmp_path: Path) -> None:
    path = tmp_path / "queries" / "report.sql"
    path.parent.mkdir()
    path.write_bytes(
        b"\xef\xbb\xbfSELECT * FROM {{ schema | ident }}.t\r\nWHERE label = {{ default_label | literal }};\r\n"
    )
    source = scan_file(path, [])
    assert source is not None
    assert render_source(source, CONTEXT) == "SELECT * FROM \"tenant_42\".t\nWHERE label = 'it''s new';\n"
    path.write_text("-- sqlmig: no-template\nSELECT '{{1,2}}'::int[];\n")
    plain = scan_file(path, [])
    assert plain is not None and render_source(plain, CONTEXT) == "-- sqlmig: no-template\nSELECT '{{1,2}}'::int[];\n"
    path.write_text("SELECT 1;\nSELECT {{ nope }};\n")
    undefined = scan_file(path, [])
    assert undefined is not None
    with pytest.raises(RenderError) as info:
        render_source(undefined, CONTEXT)
    assert (info.value.path, info.value.line) == (path, 2)


@pytest.mark.parametrize(
    ("line", "column", "expected"),
    [
        ("SELECT oops;", 8, (4, 8)),  # a line rendering left unchanged keeps its column
        (2, 5, (2, 1)),  # a line the loop produced maps back to the loop body and loses its column
    ],
)
def test_source_position_maps_rendered_lines_back(
    tmp_path: Path, line: int | str, column: int, expected: tuple[int, int]
) -> None:
    text = "{% for n in range(3) %}\nCREATE TABLE t{{ n }} (id int);\n{% endfor %}\nSELECT oops;\n"
    file = one_file(tmp_path, text)
    migration = render(file, "up", CONTEXT)
    rendered = migration.sql or ""
    assert migration.template == text
    file.up.path.unlink()  # mapping a position reads nothing: the template was read once, with the rendering
    at = rendered.splitlines().index(line) + 1 if isinstance(line, str) else line
    assert source_position(migration.template, rendered, at, column) == expected


def test_source_position_of_a_file_that_is_not_a_template() -> None:
    assert source_position(None, "SELECT 1;\nSELECT 2;\n", 2, 3) == (2, 3)


# --- the sandbox --------------------------------------------------------------------------------------------------

SECRET = "s3cret-value-that-must-not-leak"
# Each tries to read SQLMIG_TEST_SECRET past the env allow-list, or to run a shell command that creates MARKER.
ESCAPES = [
    ("cycler globals", "{{ cycler.__init__.__globals__.os.environ['SQLMIG_TEST_SECRET'] }}"),
    ("joiner globals", "{{ joiner.__init__.__globals__.os.environ['SQLMIG_TEST_SECRET'] }}"),
    ("namespace globals", "{{ namespace.__init__.__globals__.os.environ['SQLMIG_TEST_SECRET'] }}"),
    ("lipsum globals", "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}"),
    ("lipsum via attr", "{{ (lipsum|attr('__globals__'))['os'].environ['SQLMIG_TEST_SECRET'] }}"),
    ("range", "{{ range.__self__.__import__('os').environ['SQLMIG_TEST_SECRET'] }}"),
    ("range globals", "{{ range.__globals__['os'].environ['SQLMIG_TEST_SECRET'] }}"),
    ("mro subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
    ("tuple base subclasses", "{{ ().__class__.__base__.__subclasses__() }}"),
    ("variable class", "{{ schema.__class__.__init__.__globals__ }}"),
    ("format attribute", "{{ '{0.__class__.__init__.__globals__}'.format(schema) }}"),
    ("format_map attribute", "{{ '{a.__class__.__mro__}'.format_map({'a': schema}) }}"),
    ("percent format", "{{ '%s'|format(schema.__class__) }}"),
    ("attr filter", "{{ schema|attr('__class__')|attr('__mro__') }}"),
    ("map attribute", "{{ [schema]|map(attribute='__class__')|list }}"),
    ("template reference context", "{{ self._TemplateReference__context.environ }}"),
    ("template reference dict", "{{ self.__dict__ }}"),
    ("env allow-list internals", "{{ env.__class__.__init__.__globals__ }}"),
    ("allow-list mutation", "{{ env.update({'SQLMIG_TEST_SECRET': 'x'}) }}"),
    ("flask config", "{{ config.__class__.__init__.__globals__['os'].environ }}"),
    ("flask request", "{{ request.application.__globals__.__builtins__ }}"),
    ("include a file", "{% include '/etc/passwd' %}"),
    ("import a file", "{% import '/etc/passwd' as p %}"),
]


@pytest.mark.parametrize("template", [e[1] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_sandbox_refuses_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> None:
    monkeypatch.setenv("SQLMIG_TEST_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "MARKER"
    file = one_file(tmp_path, f"SELECT 1;\n-- tenant\nSELECT {template};\n")
    with pytest.raises(RenderError) as info:
        render(file, "up", CONTEXT)
    assert info.value.path == file.up.path and info.value.line == 3, str(info.value)
    assert f"{file.up.path}:3: template error:" in str(info.value)
    assert SECRET not in str(info.value) and not marker.exists()


def test_sandbox_message_says_what_is_allowed(tmp_path: Path) -> None:
    file = one_file(tmp_path, "SELECT {{ cycler.__init__.__globals__ }};\n")
    with pytest.raises(RenderError) as info:
        render(file, "up", CONTEXT)
    assert info.value.message == "access to attribute '__init__' of 'type' object is not allowed"
    assert "sandbox" in info.value.hint and "env.NAME" in info.value.hint


def test_sandbox_keeps_what_templates_need(tmp_path: Path) -> None:
    text = (
        "{% set n = namespace(total=0) %}{% for t in tables %}{% set n.total = n.total + 1 %}"
        "CREATE TABLE {{ schema | ident }}.{{ t | ident }} (label text DEFAULT {{ label | literal }});\n"
        "{% endfor %}-- {{ n.total }} tables, {{ '{}-{}'.format(schema, env.APP_ROLE) }}, {{ tables | join(',') }}\n"
    )
    file = one_file(tmp_path, text)
    context = TemplateContext(schema="s", vars={"tables": ["a", "b"], "label": "it's"}, env={"APP_ROLE": "r"})
    assert render(file, "up", context).sql == (
        "CREATE TABLE \"s\".\"a\" (label text DEFAULT 'it''s');\n"
        "CREATE TABLE \"s\".\"b\" (label text DEFAULT 'it''s');\n"
        "-- 2 tables, s-r, a,b\n"
    )


def test_a_template_cannot_change_what_the_next_one_sees(tmp_path: Path) -> None:
    tables = ["a"]
    file = one_file(tmp_path, "{{ tables.append('b') }}\n")
    with pytest.raises(RenderError, match="'append' of 'list' object is not allowed"):
        render(file, "up", TemplateContext(vars={"tables": tables}))
    assert tables == ["a"]


# --- the bound on one render's work -------------------------------------------------------------------------------

# (id, line 2 of a template, what the error says): each would run for hours or exhaust memory without the bound.
ENDLESS = [
    (
        "nested loops",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "500,000 loop",
    ),
    (
        "loops over a huge string",
        "{% for a in 'x' * 999999 %}{% for b in 'x' * 999999 %}{% endfor %}{% endfor %}",
        "500,000",
    ),
    (
        "loops over a list",
        "{% set l = range(100000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}",
        "500,000 loop",
    ),
    (
        "recursive loop",
        "{% set l = range(100000)|list %}{% for x in [1] recursive %}{% if loop.depth < 4 %}{{ loop(l) }}{% endif %}"
        "{% endfor %}",
        "500,000 loop",
    ),
    (
        "macro calling itself twice",
        "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
        "500,000 loop",
    ),
    ("macro calling itself for ever", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "more deeply"),
    (
        "loop.cycle",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ loop.cycle('a', 'b') }}{% endfor %}{% endfor %}",
        "500,000 loop",
    ),
    (
        "filters over a list in a loop",
        "{% set l = range(100000)|list %}{% for i in range(100000) %}{{ l|map('string')|select|list|length }}"
        "{% endfor %}",
        "500,000 loop",
    ),
    ("string times a number", "{{ 'x' * 10**10 }}", "'*' would have 10,000,000,000 characters"),
    ("list times a number", "{{ ([1] * 10**9) | length }}", "'*' would have 1,000,000,000"),
    ("power", "{{ 2 ** 100000000 }}", "'**' would make an integer of more than 65,536 bits"),
    (
        "repeated squaring",
        "{% set n = namespace(v=3) %}{% for i in range(64) %}{% set n.v = n.v * n.v %}{% endfor %}",
        "'*'",
    ),
    (
        "doubling with ~",
        "{% set n = namespace(s='x') %}{% for i in range(64) %}{% set n.s = n.s ~ n.s %}{% endfor %}",
        "'~'",
    ),
    (
        "doubling with +",
        "{% set n = namespace(s='x') %}{% for i in range(64) %}{% set n.s = n.s + n.s %}{% endfor %}",
        "'+'",
    ),
    (
        "batch",
        "{% for b in [1] | batch(10**12, 0) %}{% endfor %}",
        "batch filter asks for a width of 1,000,000,000,000",
    ),
    ("slice", "{{ [1] | slice(10**12) | list }}", "slice filter"),
    ("center", "{{ 'x' | center(10**10) }}", "center filter"),
    ("str.center", "{{ 'x'.center(10**10) }}", "str.center"),
    ("indent", "{{ ('\\n' * 999999) | indent(999999) }}", "indent filter"),
    ("wordwrap", "{{ ('ab ' * 333333) | wordwrap(1, wrapstring='x' * 999999) }}", "wordwrap filter"),
    ("replace", "{{ ('x' * 1000) | replace('x', 'y' * 10000) }}", "replace filter"),
    ("join", "{{ (['x' * 999999] * 999999) | join }}", "join filter"),
    ("format filter width", "{{ '%99999999s' | format(1) }}", "'%' format asks for a width of 99,999,999"),
    ("format filter star width", "{{ '%*s' | format(99999999, 1) }}", "'%' format"),
    ("percent operator", "{{ '%99999999s' % 1 }}", "'%' format"),
    ("str.format width", "{{ '{:>99999999}'.format(1) }}", "'{}' format asks for a width of 99,999,999"),
    ("str.format nested width", "{{ '{:>{w}}'.format(1, w=99999999) }}", "'{}' format"),
    ("lipsum", "{{ lipsum(10**6) }}", "lipsum"),
    ("output", "{% set s = 'x' * 999999 %}{% for i in range(100000) %}{{ s }}{% endfor %}", "100,000,000 characters"),
    (
        "text in a loop",
        "{% for i in range(100000) %}{% for j in range(4) %}" + "y" * 1000 + "{% endfor %}{% endfor %}",
        "100,000,000",
    ),
    (
        "text in a set block",
        "{% set x %}{% for i in range(100000) %}{% for j in range(4) %}"
        + "y" * 1000
        + "{% endfor %}{% endfor %}{% endset %}",
        "100,000,000 characters",
    ),
    (
        "text of a macro",
        "{% macro m() %}"
        + "y" * 10000
        + "{% endmacro %}{% set x %}{% for i in range(20000) %}{{ m() }}{% endfor %}{% endset %}",
        "100,000,000 characters",
    ),
]


# A bound on a hang, not on speed: the longest case does its 500,000 steps in about 3.5 s alone, and took over
# 10 s once with both test workers busy; a template the limits failed to stop would run far longer than 60.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("template", "message"), [e[1:] for e in ENDLESS], ids=[e[0] for e in ENDLESS])
def test_a_template_that_would_run_for_ever_is_stopped_with_file_and_line(
    tmp_path: Path, template: str, message: str
) -> None:
    file = one_file(tmp_path, f"SELECT 1;\n{template}\nSELECT 2;\n")
    with pytest.raises(RenderError) as info:
        render(file, "up", CONTEXT)
    assert info.value.path == file.up.path and info.value.line == 2, str(info.value)
    assert message in info.value.message
    assert "500,000 loop iterations and calls" in info.value.hint and "no-template" in info.value.hint


@pytest.mark.timeout(30)
def test_the_bound_is_far_above_what_templates_need(tmp_path: Path) -> None:
    text = (
        "{% macro row(i) %}({{ i }}, {{ ('n' ~ i) | literal }}){% endmacro %}"
        "INSERT INTO t VALUES\n{% for i in range(100000) %}{{ row(i) }}{{ ',' if not loop.last }}\n{% endfor %};\n"
        "-- {{ ('x' * 1000) | length }} {{ '%-8s|' | format('a') }} {{ '{:>4}'.format(7) }} {{ 2 ** 64 }}\n"
    )
    sql = render(one_file(tmp_path, text), "up", CONTEXT).sql or ""
    assert sql.count("\n") == 100_003
    assert "(99999, 'n99999')\n;" in sql
    assert sql.endswith("-- 1000 a       |    7 18446744073709551616\n")


def test_a_template_is_compiled_once_for_every_context() -> None:
    from sqlmig.render import _compiled

    text = "CREATE TABLE {{ schema | ident }}.compiled_once (id int);\n"
    before = _compiled.cache_info()
    rendered = [render_text(Path("t.up.sql"), text, TemplateContext(schema=f"t{i}")) for i in range(3)]
    after = _compiled.cache_info()
    assert rendered == [f'CREATE TABLE "t{i}".compiled_once (id int);\n' for i in range(3)]
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


# A lone CR is data, not a line break (files are read with CRLF as LF, and psql keeps a lone CR as it is): rendering
# keeps it, in the template's text, in a string of a tag and as whitespace inside a tag.
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("SELECT {{ 1 }};\n\rSELEC x;\n", "SELECT 1;\n\rSELEC x;\n"),
        ("SELECT 'a\rb', {{ 'c\rd' }},\r{{\rschema\r}};\n", "SELECT 'a\rb', c\rd,\rtenant_42;\n"),
        ("SELECT 'a\r\rb' /* {{ schema }} */;\r", "SELECT 'a\r\rb' /* tenant_42 */;\r"),
        ("x\r\x0b{{ schema }}\x0c\x1c\x1d\x1e\x1f\x85\xa0\r", "x\r\x0btenant_42\x0c\x1c\x1d\x1e\x1f\x85\xa0\r"),
    ],
)
def test_a_lone_carriage_return_is_kept(tmp_path: Path, template: str, expected: str) -> None:
    assert render_text(tmp_path / "t.sql", template, CONTEXT) == expected


def test_a_lone_carriage_return_does_not_count_as_a_line(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as info:
        render_text(tmp_path / "t.sql", "SELECT 1;\rSELECT 2;\n{{ nope }}\n", CONTEXT)
    assert info.value.line == 2
    template = "SELECT 1;\rSELECT 2;\x0c\n{% for i in [1, 2] %}x{{ i }}\n{% endfor %}SELEC;\n"
    rendered = render_text(tmp_path / "t.sql", template, CONTEXT)
    assert rendered == "SELECT 1;\rSELECT 2;\x0c\nx1\nx2\nSELEC;\n"
    assert source_position(template, rendered, 4, 1) == (3, 1)
    assert source_position(template, rendered, 1, 3) == (1, 3)
