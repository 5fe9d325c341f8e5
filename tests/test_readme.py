"""The Python examples of the README and of every docs/ page run as written, on the project's own migrations/;
those migrations go up and down cleanly; and the README's five-minute start works when followed to the letter."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import sqlmig

from .helpers import history, relations

# Runs on every PostgreSQL major (docs/testing.md): the project's own migrations may differ between majors.
pytestmark = pytest.mark.core

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# A fenced block right under `<!-- getting-started: NAME -->` is a step of the README's five-minute start.
MARKED = re.compile(r"<!-- getting-started: ([\w.-]+) -->\n```\w*\n(.*?)```", re.DOTALL)
PYTHON = re.compile(r"(<!-- getting-started: [\w.-]+ -->\n)?```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[tuple[str, str]]:
    """``(id, code)`` of each Python block of ``page``, but the five-minute start's steps: the test that follows
    that start runs them, in a project of their own."""
    found = PYTHON.findall(page.read_text(encoding="utf-8"))
    name = page.relative_to(ROOT).as_posix()
    return [(f"{name}:{n}", code) for n, (marker, code) in enumerate(found, 1) if not marker]


ALL_BLOCKS = [block for page in PAGES for block in python_blocks(page)]
# Test modules (the pytest plugin's example) run under pytest, in tests/test_testing_plugin.py; the rest as scripts.
BLOCKS = [(name, code) for name, code in ALL_BLOCKS if not code.startswith("# tests/")]
TEST_MODULES = [code for _, code in ALL_BLOCKS if code.startswith("# tests/")]
GETTING_STARTED = dict(MARKED.findall(README))


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_pages_have_python_examples() -> None:
    names = {name.split(":")[0] for name, _ in BLOCKS}
    assert {"docs/deploying.md", "docs/verify.md"} <= names and len(TEST_MODULES) == 2
    assert "app.py" in GETTING_STARTED and not any(name.startswith("README.md") for name, _ in BLOCKS)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_python_example_runs(
    project: Path,
    db: psycopg.Connection[tuple[object, ...]],
    name: str,
    code: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exec(compile(code, f"python block {name}", "exec"), {})  # noqa: S102
    assert "items" in relations(db, "app")
    assert capsys.readouterr().out


def test_project_migrations_up_down_up(project: Path, db: psycopg.Connection[tuple[object, ...]]) -> None:
    assert len(sqlmig.apply()) == 5
    assert len(sqlmig.apply(track="seed")) == 2
    cities = db.execute("SELECT city FROM master.locations ORDER BY city").fetchall()
    assert [c[0] for c in cities] == ["Lagos", "Nairobi", "São Paulo", "Zürich"]
    comment = db.execute("SELECT obj_description('app.items'::regclass)").fetchone()
    assert comment == ("Core business entities of the sqlmig example shop",)
    assert len(sqlmig.rollback(track="seed", all=True)) == 2
    assert len(sqlmig.rollback(all=True)) == 5
    assert history(db) == [] and relations(db, "app") == set()
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname IN ('auth', 'master', 'app')").fetchone() == (0,)
    assert len(sqlmig.apply()) == 5


@pytest.mark.parametrize(
    ("page", "heading"), [("README.md", "## Templates"), ("docs/templates.md", "# Templates")], ids=["README", "docs"]
)
def test_template_example_runs(
    tmp_path: Path,
    db_url: str,
    db: psycopg.Connection[tuple[object, ...]],
    monkeypatch: pytest.MonkeyPatch,
    page: str,
    heading: str,
) -> None:
    from click.testing import CliRunner

    from sqlmig.cli.commands import main

    text = (ROOT / page).read_text(encoding="utf-8")
    section = text.split(f"{heading}\n", 1)[1].split("\n## ", 1)[0]
    (sql_block,) = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)
    (bash_block,) = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    tree_dir = tmp_path / "migrations" / "migrate"
    tree_dir.mkdir(parents=True)
    (tree_dir / "20240101_000000_tenant_items.up.sql").write_text(sql_block, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(bash_block.strip())
    assert args[0] == "sqlmig"
    result = CliRunner().invoke(main, [*args[1:], "--database-url", db_url])
    assert result.exit_code == 0, result.output
    db.execute("INSERT INTO tenant_42.items DEFAULT VALUES")
    assert db.execute("SELECT label FROM tenant_42.items").fetchone() == ("new item",)


def assert_shown(shown: str, printed: str) -> None:
    """``printed`` has the lines the README shows, but for the numbers (versions, times, durations) in them."""
    patterns = [re.sub(r"\d+", r"\\d+", re.escape(line)) for line in shown.splitlines()]
    lines = printed.splitlines()
    assert len(lines) == len(patterns), printed
    for pattern, line in zip(patterns, lines, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} is not what the README shows: {pattern!r}"


def test_getting_started_as_written(tmp_path: Path, db_url: str, db: psycopg.Connection[tuple[object, ...]]) -> None:
    """A new user's five minutes: the README's commands in a shell, in an empty folder, with `sqlmig` on the
    PATH; the SQL it shows in the files `sqlmig new` wrote; its start-up snippet as the application; the log
    lines and the status it shows."""
    steps = GETTING_STARTED
    assert set(steps) == {"new", "new-output", "up.sql", "down.sql", "app.py", "log", "status", "status-output"}
    app, bin_dir = tmp_path / "app", tmp_path / "bin"
    app.mkdir()
    bin_dir.mkdir()
    (bin_dir / "sqlmig").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m sqlmig "$@"\n')
    (bin_dir / "sqlmig").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("SQLMIG_DATABASE_URL", "DIRECT_URL")}
    env.update(DATABASE_URL=db_url, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(args, cwd=app, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    bash = shutil.which("bash")
    assert bash is not None
    created = run(bash, "-eu", "-c", steps["new"])
    assert_shown(steps["new-output"], created.stdout)
    (up,) = app.glob("migrations/migrate/*_create_items.up.sql")
    (down,) = app.glob("migrations/migrate/*_create_items.down.sql")
    up.write_text(steps["up.sql"], encoding="utf-8")
    down.write_text(steps["down.sql"], encoding="utf-8")
    (app / "app.py").write_text(steps["app.py"], encoding="utf-8")

    started = run(sys.executable, "app.py")
    name = up.name.removesuffix(".up.sql")
    assert_shown(steps["log"], started.stderr)
    assert started.stderr.startswith(f"INFO:sqlmig:applied {name} (")
    assert history(db) == [name] and relations(db, "app") >= {"items"}

    status = run(bash, "-eu", "-c", steps["status"])
    assert_shown(steps["status-output"], status.stdout)
    assert f"applied  {name}" in status.stdout
    assert run(sys.executable, "app.py").stderr == ""  # a second start finds nothing to do
