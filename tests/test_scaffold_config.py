"""`sqlmig new` stubs and configuration precedence. No server."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sqlmig import config
from sqlmig.errors import ConfigError
from sqlmig.files import discover
from sqlmig.scaffold import new_migration, normalise_name

NOW = datetime(2025, 11, 24, 12, 30, 45, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("add_users", "add_users"), ("Add New-Column", "add_new_column"), ("  x  ", "x"), ("a__b..c", "a_b_c")],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_new_twice_in_the_same_second_does_not_overwrite(tmp_path: Path) -> None:
    first = new_migration(tmp_path, "migrate", "same", now=NOW)
    first[0].write_text("edited by hand\n")
    second = new_migration(tmp_path, "migrate", "same", now=NOW)
    assert first[0].name == "20251124_123045_same.up.sql"
    assert second[0].name == "20251124_123046_same.up.sql"
    assert first[0].read_text() == "edited by hand\n"
    third = new_migration(tmp_path, "migrate", "other", now=NOW)
    assert third[0].name.startswith("20251124_123047_")
    assert [f.name for f in discover(tmp_path, "migrate")] == [
        "20251124_123045_same",
        "20251124_123046_same",
        "20251124_123047_other",
    ]


def test_stub_content_and_project_override(tmp_path: Path) -> None:
    up, down = new_migration(tmp_path, "seed", "default data", schema="master", now=NOW)
    assert up.parent == tmp_path / "seed"
    assert "master." in up.read_text() and "ON CONFLICT DO NOTHING" in up.read_text()
    assert down.read_text().startswith("-- Reverts 20251124_123045_default_data")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "migrate.up.sql").write_text("-- team stub for {{ name }} in {{ schema }}\n")
    up, _ = new_migration(tmp_path, "migrate", "x", schema="Odd Schema", stubs=stubs, now=NOW)
    assert up.read_text() == '-- team stub for 20251124_123045_x in "Odd Schema"\n'


def test_url_precedence(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIRECT_URL=postgresql://dotenv-direct\nDATABASE_URL=postgresql://dotenv-pooled\n")
    env = {"DATABASE_URL": "postgresql://env-pooled"}
    s = config.load(cwd=tmp_path, environ=env)
    assert (s.database_url, s.url_source) == ("postgresql://dotenv-direct", "DIRECT_URL (.env)")
    s = config.load(cwd=tmp_path, environ={**env, "SQLMIG_DATABASE_URL": "postgresql://sqlmig"})
    assert (s.database_url, s.url_source) == ("postgresql://sqlmig", "SQLMIG_DATABASE_URL")
    s = config.load(cwd=tmp_path, environ={**env, "DIRECT_URL": "postgresql://env-direct"})
    assert s.database_url == "postgresql://env-direct"
    s = config.load(cwd=tmp_path, environ=env, database_url="postgresql://flag")
    assert (s.database_url, s.url_source) == ("postgresql://flag", "the given URL")


def test_pyproject_settings_and_flag_precedence(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.sqlmig]\ndirectory = "db"\nschema = "app"\nhistory_table = "ops.history"\n'
        'vars = { a = "1", b = "2" }\nenv = ["APP_ROLE", "UNSET"]\nlock_wait = 5\n'
    )
    s = config.load(cwd=tmp_path, environ={"APP_ROLE": "web", "OTHER": "x"}, vars={"b": "flag"})
    assert s.directory == tmp_path / "db" and s.schema == "app" and s.history_table == "ops.history"
    assert dict(s.vars) == {"a": "1", "b": "flag"}
    assert dict(s.env) == {"APP_ROLE": "web"}
    assert s.lock_wait == 5.0
    assert config.load(cwd=tmp_path, environ={}, schema="other", directory="x").schema == "other"


def test_pyproject_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sqlmig]\ndirectroy = "db"\n')
    with pytest.raises(ConfigError, match="directroy"):
        config.load(cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"),
        ("postgresql://u@h/db?password=pw&x=1", "postgresql://u@h/db?password=***&x=1"),
        ("host=h user=u password=pw dbname=d", "host=h user=u password=*** dbname=d"),
        ("host=h password='p w' dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert config.redact(text) == expected


def test_dotenv_parsing(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport A=1\nB = 'two words'\nC=\"x#y\"\nD=plain # trailing comment\nnot a line\n"
    )
    assert config.read_dotenv(tmp_path / ".env") == {"A": "1", "B": "two words", "C": "x#y", "D": "plain"}
