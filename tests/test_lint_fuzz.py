"""Lint attacked with generated files and a real git history.

Files are built from SQL fragments (DDL of every kind, DO blocks, dollar-quoted functions, COPY data, comments,
suppressions, templates, search_path settings, broken SQL, psql meta-commands), with or without a directive, CRLF line
ends, a BOM and non-ASCII text. Whatever the file, :func:`sqlmig.lint.lint` must not raise (every problem is a
finding); the cache (cold, warm, damaged, another rule selection) never changes the findings; a file's findings do
not depend on its name or folder; what the safety set reports is also reported with the conventions on; and every
finding points inside the file, at the statement it is about. ``--since`` runs against a real git repository. No
server.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlmig.lint import Finding, lint
from sqlmig.reader import read_text
from sqlmig.render import TemplateContext, render_text
from sqlmig.sqltext import MetaCommand, Statement, iter_statements

from .helpers import tree
from .test_lint_since import git

SCHEMA = "tenant_acme"
# One statement (or block) each, with the codes it alone makes the safety rules report in a migrate-track file that
# runs in a transaction, on a table the file does not create.
KNOWN: dict[str, str] = {
    "CREATE INDEX items_a_idx ON app.items (a);\n": "SQM401",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_b_idx\n    ON app.items (b);\n": "SQM402",
    "ALTER TABLE app.items ADD COLUMN b int NOT NULL;\n": "SQM403",
    "ALTER TABLE app.items ALTER COLUMN id TYPE bigint;\n": "SQM404",
    "ALTER TABLE app.items ADD CONSTRAINT items_u_fk FOREIGN KEY (u) REFERENCES app.users;\n": "SQM405",
    "VACUUM app.items;\n": "SQM406",
    "ALTER SYSTEM SET work_mem = '1MB';\n": "SQM407",
    "ALTER TABLE app.items\n    ALTER COLUMN a SET NOT NULL;\n": "SQM408",
    "ALTER TABLE app.items ADD CONSTRAINT items_a_key UNIQUE (a);\n": "SQM409",
    "DROP INDEX app.items_old_idx;\n": "SQM410",
    "ALTER TABLE app.items ADD COLUMN c uuid DEFAULT gen_random_uuid();\n": "SQM411",
    "ALTER TABLE app.items RENAME COLUMN x TO y;\n": "SQM412",
    "ALTER TABLE app.items DROP COLUMN legacy;\n": "SQM413",
    "ALTER TABLE app.items ADD COLUMN o int DEFAULT 1 REFERENCES app.owners;\n": "SQM414",
    "CREATE DATABASE reports;\n": "SQM417",
    "DO $$\nBEGIN\n  ALTER TABLE app.items ADD COLUMN n int;\nEND $$;\n": "SQM418",
    "CREATE FUNCTION app.f() RETURNS int LANGUAGE sql SECURITY DEFINER\nAS $$ SELECT 1 $$;\n": "SQM419",
    "REFRESH MATERIALIZED VIEW app.mv;\n": "SQM421",
    "CLUSTER app.items USING items_pkey;\n": "SQM422",
    "REINDEX TABLE app.items;\n": "SQM423",
    "ALTER TABLE app.items ADD COLUMN;\n": "SQM001",
    "COPY app.items TO STDOUT;\n": "SQM003",
    "SELECT pg_advisory_unlock_all();\n": "SQM009",
    "COMMIT;\n": "SQM008",
}
OTHER = [
    "CREATE SCHEMA app;\n",
    "CREATE TABLE app.items (id bigint PRIMARY KEY, a text, b int);\n",
    "CREATE TABLE items (id int);\n",
    "CREATE TEMP TABLE staging (a int);\nCREATE INDEX ON staging (a);\n",
    "CREATE TABLE app.p (d int) PARTITION BY RANGE (d);\n",
    "CREATE MATERIALIZED VIEW app.mv2 AS SELECT 1 AS id;\n",
    "SELECT * INTO app.snap FROM app.items;\n",
    "ALTER TABLE app.items ADD CONSTRAINT c CHECK (a <> '') NOT VALID;\nALTER TABLE app.items VALIDATE CONSTRAINT c;\n",
    "ALTER TYPE app.state ADD VALUE 'x';\nUPDATE app.items SET s = 'x';\n",
    "DO $x$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN q int', 't'); END $x$;\n",
    "CREATE OR REPLACE FUNCTION app.g() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n"
    "  -- ; $$ ' not the end\n  RETURN NEW;\nEND\n$body$;\n",
    "CREATE FUNCTION app.h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n",
    "CREATE FUNCTION app.k() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'SELECT 1';\n",
    "UPDATE app.items SET a = 'x';\n",
    "DELETE FROM items;\n",
    "INSERT INTO items VALUES (1);\n",
    "INSERT INTO app.items VALUES (1) ON CONFLICT DO NOTHING;\n",
    "COPY app.items (a, b) FROM stdin;\n1\tx; CREATE INDEX no ON app.t (a);\n2\t\\N\n\\.\n",
    "\\set x 1\n",
    "SELECT 1 \\gexec\n",
    "BEGIN;\n",
    "SAVEPOINT s;\n",
    "DISCARD ALL;\n",
    "SET search_path = app, public;\n",
    "SET LOCAL search_path TO app;\n",
    "SELECT set_config('search_path', 'app', false);\n",
    'SET search_path TO "$user", public;\n',
    "RESET search_path;\n",
    "-- a comment ; with 'quotes' and $$\n",
    "/* a block\n   comment; */\n",
    "\n",
    "-- sqlmig-lint: ignore SQM401 -- small table\n",
    "-- sqlmig-lint: ignore SQM999\n",
    "-- sqlmig-lint: ignore-file SQM413 -- the column was never read\n",
    "CREATE INDEX k ON {{ schema | ident }}.items (a);\n",
    "SELECT {{ undefined_variable }};\n",
    "{% if schema %}SELECT 1;{% endif %}\n",
    "SELECT '{{';\n",
    "ALTER TABLE app.items ADD COLUMN IF NOT EXISTS ä text; -- é 日本\n",
    "SELECT 'naïve ☃ 🐘';\n",
    "SELECT $$ never closed\n",
    "SELECT 'never closed\n",
    "CREATE TABLE app.t (\n",
    ";\n",
]
HEADERS = [
    "",
    "-- sqlmig: no-transaction\n",
    "-- sqlmig: no-template\n",
    "-- sqlmig: lock-timeout=5s\n",
    "-- sqlmig: x\n",
]
JUNK = st.text(alphabet=st.sampled_from(list("abcSELT ;'\"$\\-/*(){}%\n\r\té日\x00")), max_size=40)
FRAGMENT = st.one_of(st.sampled_from(sorted(KNOWN)), st.sampled_from(OTHER), JUNK)


@st.composite
def sql_files(draw: st.DrawFn) -> bytes:
    """A migration file: a directive (or none), fragments, then CRLF, a BOM and the last newline at random."""
    text = draw(st.sampled_from(HEADERS)) + "".join(draw(st.lists(FRAGMENT, max_size=8)))
    if draw(st.booleans()):
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogatepass")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


@st.composite
def projects(draw: st.DrawFn) -> dict[str, bytes]:
    """An up file in the migrate or seed track, perhaps with a down file."""
    track = draw(st.sampled_from(["migrate", "seed"]))
    files = {f"{track}/20240101_000000_a.up.sql": draw(sql_files())}
    if draw(st.booleans()):
        files[f"{track}/20240101_000000_a.down.sql"] = draw(sql_files())
    return files


@contextlib.contextmanager
def project(files: dict[str, bytes], folder: str = "p") -> Iterator[Path]:
    """A project folder (``pyproject.toml`` with ``[tool.sqlmig]``, ``migrations/…``) as the working directory."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / folder
        tree(root, {"pyproject.toml": "[tool.sqlmig]\n", **{f"migrations/{k}": v for k, v in files.items()}})
        with contextlib.chdir(root):
            yield root


def run(rules: list[str], *, cache: bool = False) -> list[Finding]:
    return list(lint(paths=["migrations"], schema=SCHEMA, rules=rules, cache=cache).findings)


def where(findings: list[Finding]) -> list[tuple[str, str, int, int, str]]:
    """Findings without their path's folders and version: kind of file, code, line, column, severity."""
    return sorted((f.path.name.split(".", 1)[1], f.code, f.line, f.column, f.severity) for f in findings)


EVERY = ["safety", "conventions"]
FUZZ = settings(
    max_examples=150,  # within the suite's time; runs of 3,000 to 4,000 found only the lone CR, since fixed
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def setup_module() -> None:
    """Load the parser and the rules once, so the first example is not held to the deadline for it."""
    with project({"migrate/20240101_000000_a.up.sql": b"SELECT 1;\n"}):
        run(EVERY)


@FUZZ
@given(projects())
def test_lint_never_raises_and_the_cache_never_changes_the_findings(files: dict[str, bytes]) -> None:
    with project(files) as root:
        every, safety = run(EVERY), run(["safety"])
        assert run(["safety"], cache=True) == safety  # cold: writes every rule's findings
        assert run(EVERY, cache=True) == every  # warm, another selection: answered from the cache
        assert run(EVERY, cache=True) == every
        cache = root / ".sqlmig" / "lint-cache.json"
        cache.parent.mkdir(exist_ok=True)
        data = cache.read_bytes() if cache.is_file() else b"{}"  # none for a file sqlmig cannot use (SQM005)
        for damaged in (data[: len(data) // 2], b"\x00\xff" + data, b"[]", b'{"version": 1}', b""):
            cache.write_bytes(damaged)
            assert run(EVERY, cache=True) == every, damaged[:40]
        assert set(safety) <= set(every), "the safety set reports what the conventions hide"


@FUZZ
@given(projects(), st.sampled_from(["p", "a folder with spaces", "dossier é 日本", "x'y\"z"]), st.integers(0, 3))
def test_the_findings_do_not_depend_on_the_files_name(files: dict[str, bytes], folder: str, which: int) -> None:
    with project(files) as root:
        first = where(run(EVERY))
        assert root.name == "p"
    version = ["20240101_000000", "00000000_000000", "29991231_235959", "20240101_000000"][which]
    name = ["a", "b_c", "x9", "the_same_migration_with_a_long_name"][which]
    moved = {k.replace("20240101_000000_a", f"{version}_{name}"): v for k, v in files.items()}
    with project(moved, folder):
        assert where(run(EVERY)) == first


def spans(path: Path) -> list[tuple[int, int]]:
    """(first, last) line of each statement and meta-command of ``path`` as rendered for :data:`SCHEMA` (the
    fragments' template expressions never span lines)."""
    text = read_text(path)
    with contextlib.suppress(Exception):
        text = render_text(path, text, TemplateContext(schema=SCHEMA))
    found = []
    # Lines end at LF (CRLF included): a lone CR is not a line break, for lint as for git and psql.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    for item in iter_statements(lines):
        if isinstance(item, Statement):
            found.append((item.line, item.line + item.text.count("\n")))
        elif isinstance(item, MetaCommand):
            found.append((item.line, item.line))
    return found


# Findings about the file, a template's line or a suppression comment rather than a statement.
NOT_IN_A_STATEMENT = frozenset({"SQM002", "SQM004", "SQM005", "SQM006", "SQM007", "SQM010"})


@FUZZ
@given(projects())
def test_every_finding_points_inside_its_file_at_a_statement(files: dict[str, bytes]) -> None:
    with project(files) as root:
        for finding in run(EVERY):
            path = root / finding.path
            lines = path.read_bytes().rstrip(b"\n").count(b"\n") + 1
            assert 1 <= finding.line <= lines, finding
            assert finding.column >= 1, finding
            if finding.code not in NOT_IN_A_STATEMENT and finding.code != "SQM001":
                assert any(a <= finding.line <= b for a, b in spans(path)), finding


@FUZZ
@given(
    st.lists(st.sampled_from(["\n", "-- a comment\n", "/* one\n   two */\n", "SELECT 'é';\n"]), max_size=4),
    st.sampled_from(sorted(KNOWN)),
    st.lists(st.sampled_from(["\n", "SELECT 2;\n", "-- after\n"]), max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_a_finding_points_at_the_statement_that_caused_it(
    before: list[str], fragment: str, after: list[str], crlf: bool, bom: bool
) -> None:
    text = "".join(before) + fragment + "".join(after)
    data = (b"\xef\xbb\xbf" if bom else b"") + (text.replace("\n", "\r\n") if crlf else text).encode()
    first = "".join(before).count("\n") + 1
    last = first + fragment.count("\n") - 1
    with project({"migrate/20240101_000000_a.up.sql": data}):
        lines = sorted((f.line, f.column) for f in run(["safety"]) if f.code == KNOWN[fragment])
    assert lines, f"{KNOWN[fragment]} not found"
    assert all(first <= line <= last for line, _ in lines), (first, last, lines)


def first_line(data: bytes, code: str) -> int:
    with project({"migrate/20240101_000000_a.up.sql": data}):
        return next(f.line for f in run(EVERY) if f.code == code)


def test_a_lone_carriage_return_in_a_template_keeps_the_findings_lines() -> None:
    plain = first_line(b"SELECT 1;\n\rSELEC x;\n", "SQM001")
    template = first_line(b"SELECT {{ 1 }};\n\rSELEC x;\n", "SQM001")
    assert (plain, template) == (2, 2)


# --- --since against a real git repository ----------------------------------------------------------------------------


# git quotes such paths in its output ("db m\303\257grations \"x\"/…") unless told otherwise.
DIR = 'db mïgrations "x"'
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
# Each migration uses a table without schema (SQM101, a convention) once, so the findings name the files checked.
UP = "CREATE TABLE IF NOT EXISTS {name} (id int);\n"


def add(root: Path, track: str, stem: str, up: str | None = None, down: bool = True) -> None:
    files = {f"{track}/{stem}.up.sql": up if up is not None else UP.format(name=stem.split("_", 2)[2])}
    if down:
        files[f"{track}/{stem}.down.sql"] = "SELECT 1;\n"
    tree(root, files)


def checked(rules: list[str], since: str = "main") -> list[tuple[str, str]]:
    return sorted((f.path.name, f.code) for f in lint(rules=rules, since=since).findings)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository in a folder with spaces and non-ASCII letters, its migrations in another such folder, two
    migrations on main, and the branch ``feature`` checked out."""
    root = tmp_path / "my project é"
    root.mkdir()
    git(root, "init", "-q")
    tree(root, {"pyproject.toml": f"[tool.sqlmig]\ndirectory = '{DIR}'\n"})
    add(root / DIR, "migrate", "20240101_000000_old")
    add(root / DIR, "migrate", "20240102_000000_kept")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "feature")
    monkeypatch.chdir(root)
    return root


@needs_git
def test_since_in_folders_with_spaces_and_non_ascii_names(repo: Path) -> None:
    migrations = repo / DIR
    add(migrations, "migrate", "20240103_000000_untracked")
    add(migrations, "seed", "20240104_000000_staged")
    git(repo, "add", "-A", f"{DIR}/seed")
    (migrations / "migrate" / "20240102_000000_kept.down.sql").write_text("SELECT 2;\n")  # unstaged
    assert checked(["SQM101"]) == [
        ("20240102_000000_kept.up.sql", "SQM101"),
        ("20240103_000000_untracked.up.sql", "SQM101"),
        ("20240104_000000_staged.up.sql", "SQM101"),
    ]


@needs_git
def test_since_a_rename_with_changes_a_deleted_up_and_an_ignored_file(repo: Path) -> None:
    migrations = repo / DIR / "migrate"
    for kind in ("up", "down"):
        git(
            repo, "mv", f"{DIR}/migrate/20240101_000000_old.{kind}.sql", f"{DIR}/migrate/20240101_000000_new.{kind}.sql"
        )
    (migrations / "20240101_000000_new.up.sql").write_text(UP.format(name="renamed") + "SELECT 2;\n")
    git(repo, "commit", "-qam", "rename")
    git(repo, "rm", "-q", f"{DIR}/migrate/20240102_000000_kept.up.sql")  # its down file is left alone
    tree(repo, {".gitignore": "*_ignored.*\n"})
    add(repo / DIR, "migrate", "20240106_000000_ignored")  # on disk and discovered, but ignored by git
    assert checked(["SQM101"]) == [("20240101_000000_new.up.sql", "SQM101")]


@needs_git
def test_since_a_change_undone_is_no_change(repo: Path) -> None:
    path = repo / DIR / "migrate" / "20240102_000000_kept.up.sql"
    original = path.read_text()
    path.write_text("SELECT 1;\n")
    git(repo, "commit", "-qam", "edit")
    path.write_text(original)
    git(repo, "commit", "-qam", "undo")
    assert lint(rules=["conventions"], since="main").files == 0


@needs_git
def test_since_still_reads_every_migration_for_sqm102(repo: Path) -> None:
    migrations = repo / DIR
    add(migrations, "migrate", "20240100_000000_schemas", "CREATE SCHEMA IF NOT EXISTS billing;\n")
    add(migrations, "migrate", "20240200_000000_later_schema", "CREATE SCHEMA IF NOT EXISTS audit;\n")
    add(migrations, "migrate", "20240101_500000_unchanged_user", "SELECT * FROM nowhere.t;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "schemas")
    git(repo, "branch", "-f", "main")
    add(migrations, "migrate", "20240103_000000_uses", "SELECT * FROM billing.a, audit.b;\n")
    found = lint(rules=["conventions"], since="main").findings
    assert [(f.path.name, f.code, f.line) for f in found] == [("20240103_000000_uses.up.sql", "SQM102", 1)]
    assert '"audit"' in found[0].message  # created only by a later migration; billing exists before
