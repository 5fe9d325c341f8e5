"""The README's Python examples run as written, on the project's own migrations/; and those migrations go up
and down cleanly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

import sqlmig

from .helpers import history, relations

# Runs on every PostgreSQL major (docs/testing.md): the project's own migrations may differ between majors.
pytestmark = pytest.mark.core

ROOT = Path(__file__).parent.parent
ALL_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
# Test modules (the pytest plugin's example) run under pytest, in tests/test_testing_plugin.py; the rest as scripts.
BLOCKS = [b for b in ALL_BLOCKS if not b.startswith("# tests/")]
TEST_MODULES = [b for b in ALL_BLOCKS if b.startswith("# tests/")]


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2 and len(TEST_MODULES) == 1


@pytest.mark.parametrize("block", range(len(BLOCKS)))
def test_readme_python_example_runs(
    project: Path, db: psycopg.Connection[tuple[object, ...]], block: int, capsys: pytest.CaptureFixture[str]
) -> None:
    exec(compile(BLOCKS[block], f"README.md python block {block + 1}", "exec"), {})  # noqa: S102
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


def test_readme_template_example_runs(
    tmp_path: Path, db_url: str, db: psycopg.Connection[tuple[object, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from click.testing import CliRunner

    from sqlmig.cli import main

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Templates", 1)[1].split("\n## ", 1)[0]
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
