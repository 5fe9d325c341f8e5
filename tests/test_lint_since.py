"""``sqlmig lint --since REF``: only the migrations a branch changed (committed, staged, unstaged or untracked)
are checked, every migration is still read for SQM102, and a folder outside git or an unknown ref is a clear
error. Runs git in a temporary repository; no server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqlmig.cli import main
from sqlmig.errors import ConfigError
from sqlmig.lint import lint

from .helpers import tree

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

# Each up breaks SQM101 (a convention) once, so the findings name the files checked.
BAD = "CREATE TABLE IF NOT EXISTS {name} (id int);\n"
RULES = ["conventions"]


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "PATH": "/usr/bin:/bin", "HOME": str(repo)},
    )
    return done.stdout


def migration(repo: Path, version: str, name: str, up: str | None = None) -> None:
    stem = f"migrations/migrate/{version}_{name}"
    tree(repo, {f"{stem}.up.sql": up or BAD.format(name=name), f"{stem}.down.sql": f"DROP TABLE IF EXISTS x.{name};\n"})


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose main branch has two migrations, on a branch ``feature`` made from it."""
    git(tmp_path, "init", "-q")
    migration(tmp_path, "20240101_000000", "old")
    migration(tmp_path, "20240102_000000", "kept")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    git(tmp_path, "checkout", "-qb", "feature")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def checked(report_paths: list[Path]) -> list[str]:
    return sorted(p.name.split("_", 2)[2] for p in report_paths)


def test_nothing_changed_is_nothing_checked(repo: Path) -> None:
    report = lint(rules=RULES, since="main")
    assert (report.files, report.findings) == (0, ())


def test_committed_staged_unstaged_untracked_and_renamed_files_are_checked(repo: Path) -> None:
    migration(repo, "20240103_000000", "committed")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    migration(repo, "20240104_000000", "staged")
    git(repo, "add", "-A")
    migration(repo, "20240105_000000", "untracked")
    (repo / "migrations/migrate/20240102_000000_kept.up.sql").write_text(BAD.format(name="edited"))  # unstaged
    for kind in ("up", "down"):
        folder = "migrations/migrate/20240101_000000"
        git(repo, "mv", f"{folder}_old.{kind}.sql", f"{folder}_renamed.{kind}.sql")
    report = lint(rules=RULES, since="main")
    names = checked([f.path for f in report.findings])
    assert names == ["committed.up.sql", "kept.up.sql", "renamed.up.sql", "staged.up.sql", "untracked.up.sql"]
    assert report.files == 10  # both files of each changed migration


def test_changes_on_the_base_branch_are_not_the_branchs(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    migration(repo, "20240110_000000", "theirs")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "theirs")
    git(repo, "checkout", "-q", "feature")
    migration(repo, "20240103_000000", "mine")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mine")
    assert checked([f.path for f in lint(rules=RULES, since="main").findings]) == ["mine.up.sql"]


def test_a_deleted_migration_is_not_checked(repo: Path) -> None:
    git(repo, "rm", "-q", "migrations/migrate/20240102_000000_kept.down.sql")
    assert lint(rules=RULES, since="main").files == 0


def test_a_schema_created_by_an_unchanged_migration_is_not_missing(repo: Path) -> None:
    migration(repo, "20240100_000000", "schemas", "CREATE SCHEMA IF NOT EXISTS billing;\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "schemas")
    git(repo, "branch", "-f", "main")
    migration(repo, "20240103_000000", "uses", "SELECT * FROM billing.a, audit.b;\n")
    (found,) = lint(rules=RULES, since="main").findings
    assert found.code == "SQM102" and found.message == 'schema "audit" is used, but no migration creates it'


def test_since_with_paths_checks_the_changed_files_among_them(repo: Path) -> None:
    migration(repo, "20240103_000000", "new")
    tree(repo, {"migrations/seed/20240104_000000_rows.up.sql": "INSERT INTO x.t VALUES (1);\n"})
    assert checked([f.path for f in lint(paths=["migrations/seed"], rules=RULES, since="main").findings]) == [
        "rows.up.sql",
        "rows.up.sql",
    ]


def test_a_file_name_that_is_not_utf8_does_not_stop_it(repo: Path) -> None:
    """git prints paths as bytes; one that is not UTF-8 names no migration, and the others are still checked."""
    (repo / "migrations" / "migrate").joinpath(os.fsdecode(b"notes-\xff.txt")).write_text("scratch\n")
    migration(repo, "20240103_000000", "added")
    report = lint(rules=RULES, since="main")
    assert checked([f.path for f in report.findings]) == ["added.up.sql"]


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migration(tmp_path, "20240101_000000", "old")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(ConfigError) as caught:
        lint(since="main")
    assert "is not in a git repository" in str(caught.value) and "'main'" in str(caught.value)


@pytest.mark.parametrize("ref", ["nosuchbranch", "--output=x", ""])
def test_an_unknown_ref(repo: Path, ref: str) -> None:
    with pytest.raises(ConfigError) as caught:
        lint(since=ref)
    assert f"cannot compare with the git ref {ref!r}" in str(caught.value)


def test_cli_since(repo: Path) -> None:
    migration(repo, "20240103_000000", "new")
    runner = CliRunner()
    found = runner.invoke(main, ["lint", "--rules", "conventions", "--since", "main"])
    assert found.exit_code == 4 and "20240103_000000_new.up.sql:1:" in found.output and "_kept" not in found.output
    unknown = runner.invoke(main, ["lint", "--since", "nosuchbranch"])
    assert unknown.exit_code == 5
    assert "error: cannot compare with the git ref 'nosuchbranch': no branch, tag or commit" in unknown.output
