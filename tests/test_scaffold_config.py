"""`sqlmig new` stubs and configuration precedence. No server."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig import config
from sqlmig.cli.commands import main
from sqlmig.errors import ConfigError, RenderError
from sqlmig.files import discover, discover_tracks
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
    # 20251124_123045 is the seed's: a version is free only when neither track uses it.
    assert up.read_text() == '-- team stub for 20251124_123046_x in "Odd Schema"\n'


def test_new_takes_a_version_free_in_both_tracks(tmp_path: Path) -> None:
    seed, _ = new_migration(tmp_path, "seed", "same", now=NOW)
    migrate, _ = new_migration(tmp_path, "migrate", "same", now=NOW)
    assert (seed.name, migrate.name) == ("20251124_123045_same.up.sql", "20251124_123046_same.up.sql")
    found = discover_tracks(tmp_path)
    assert [f.name for f in found["migrate"]] == ["20251124_123046_same"]
    assert [f.name for f in found["seed"]] == ["20251124_123045_same"]


SOURCE = Path(sqlmig.__file__).resolve().parent.parent  # the code under test, for the processes the tests start


def start_new(project: Path, *args: str) -> subprocess.Popen[str]:
    """``python -m sqlmig new`` in ``project``, as a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "sqlmig", "new", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(SOURCE)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(170)
@pytest.mark.parametrize("same", [False, True], ids=["different names", "same name"])
def test_twenty_parallel_runs_take_one_version_each(tmp_path: Path, same: bool) -> None:
    runs = [start_new(tmp_path, "--name", "same" if same else f"step_{i}") for i in range(20)]
    outputs = [run.communicate(timeout=150) for run in runs]
    assert [run.returncode for run in runs] == [0] * 20, outputs
    assert all(err == "" and out.count("Created ") == 2 for out, err in outputs), outputs
    files = discover(tmp_path / "migrations", "migrate")
    assert len(files) == 20 and len({f.version for f in files}) == 20
    assert all(f.down is not None for f in files)
    assert len(list((tmp_path / "migrations" / "migrate").iterdir())) == 40


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "schema",
    ["x\nDROP TABLE users; --", "x\rDROP TABLE users; --", "x\x85-- sqlmig: no-transaction", "x\u2028y", "a\x00b", ""],
    ids=["LF", "CR", "NEL", "line separator", "NUL", "empty"],
)
def test_new_refuses_a_schema_that_could_leave_its_comment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--schema"):
        new_migration(tmp_path / "migrations", "migrate", "create_users", schema=schema, now=NOW)
    code, output = cli("new", "--name", "create_users", "--schema", schema)
    assert code == 5 and output.startswith("error: --schema ") and "Traceback" not in output, output
    folder = tmp_path / "migrations" / "migrate"
    assert not folder.exists() or not any(folder.iterdir())


def test_new_quotes_a_printable_schema_that_needs_it(tmp_path: Path) -> None:
    up, down = new_migration(tmp_path, "migrate", "create_users", schema='we"ird -- schema', now=NOW)
    lines = up.read_text().splitlines()
    assert lines[0] == '-- 20251124_123045_create_users (schema "we""ird -- schema"), created 2025-11-24T12:30:45+00:00'
    assert lines[3] == 'CREATE TABLE IF NOT EXISTS "we""ird -- schema".users ('
    assert 'DROP TABLE IF EXISTS "we""ird -- schema".users;' in down.read_text().splitlines()


def cli_as_unprivileged(*args: str) -> tuple[int, str]:
    """:func:`cli` as a user that folder permissions apply to: root ignores them, so as root the command runs in
    a forked child that has given up root (a new interpreter could not be run as another user: it lives in
    root's home)."""
    if os.geteuid() != 0:
        return cli(*args)
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory() as scratch:  # the child cannot import from root's home: import it all now
        code, output = cli("new", "--dir", scratch, "--name", "warm_up")
        assert code == 0, output
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads: see the import
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(write, json.dumps(cli(*args)).encode())
        except BaseException:
            os.write(write, json.dumps([-1, traceback.format_exc()]).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            code, output = json.loads(pipe.read())
    finally:
        os.waitpid(pid, 0)
    return int(code), str(output)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder that any user can enter (pytest's own are root's alone when running as root)."""
    with tempfile.TemporaryDirectory(prefix="sqlmig-test-") as name:
        os.chmod(name, 0o755)  # noqa: S103 - the unprivileged user must enter it to find the read-only folder
        yield Path(name)


def test_new_in_a_read_only_folder_says_so(shared_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = shared_tmp / "migrations" / "migrate"
    folder.mkdir(parents=True)
    for path in (folder, folder.parent):
        path.chmod(0o555)
    monkeypatch.chdir(shared_tmp)
    code, output = cli_as_unprivileged("new", "--name", "add_users")
    assert code == 5 and "Traceback" not in output, output
    assert output.startswith("error: cannot write migrations/migrate/") and "Permission denied" in output, output
    assert "check that the user running sqlmig may write to migrations/migrate" in output
    assert list(folder.iterdir()) == []


def test_new_where_the_track_folder_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "seed").write_text("not a folder\n")
    code, output = cli("new", "--type", "seed", "--name", "add_users")
    assert code == 5, output
    assert output == (
        "error: migrations/seed is not a folder: move it away, seed files are kept in a folder of that name\n"
    )


def test_a_broken_project_stub_names_its_file_and_line(tmp_path: Path) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "migrate.up.sql").write_text("-- {{ name }}\n{{ owner }}\n")
    with pytest.raises(RenderError) as info:
        new_migration(tmp_path, "migrate", "x", stubs=stubs, now=NOW)
    assert (info.value.path, info.value.line) == (stubs / "migrate.up.sql", 2)
    assert "'owner' is undefined" in str(info.value) and "name, schema, table and created" in info.value.hint
    assert not (tmp_path / "migrate").exists() or not any((tmp_path / "migrate").iterdir())


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


def test_dotenv_is_read_as_python_dotenv_reads_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / ".env").write_text(
        'QUOTED="q" # a comment after quotes\n'
        'ESCAPED="tab\\there"\n'
        "SINGLE='no\\tescape'\n"
        "MULTI='one\ntwo'\n"
        "LITERAL=pa${HOME}ss\n"
        "NAME_ONLY\n"
        "EMPTY=\n"
        "not a line\n"
        "LAST=1\n"
    )
    assert config.read_dotenv(tmp_path / ".env") == {
        "QUOTED": "q",
        "ESCAPED": "tab\there",
        "SINGLE": "no\\tescape",
        "MULTI": "one\ntwo",
        "LITERAL": "pa${HOME}ss",  # never expanded: a password keeps its dollar signs
        "EMPTY": "",
        "LAST": "1",
    }
    assert "could not parse statement starting at line 9" in caplog.text


def test_dotenv_missing_or_a_folder_is_empty(tmp_path: Path) -> None:
    assert config.read_dotenv(tmp_path / ".env") == {}
    (tmp_path / ".env").mkdir()
    assert config.read_dotenv(tmp_path / ".env") == {}


def test_a_project_without_dotenv_does_not_load_its_reader(tmp_path: Path) -> None:
    """Every command reads .env: without one, python-dotenv (6 ms of start-up) is not imported."""
    code = (
        "import sys, pathlib; from sqlmig import config; "
        f"assert config.read_dotenv(pathlib.Path({str(tmp_path / '.env')!r})) == {{}}; "
        "assert 'dotenv' not in sys.modules, 'dotenv imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_environment_wins_over_dotenv_for_allowed_variables(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sqlmig]\nenv = ["APP_ROLE", "APP_REGION"]\n')
    (tmp_path / ".env").write_text("APP_ROLE=from-dotenv\nAPP_REGION=eu\n")
    s = config.load(cwd=tmp_path, environ={"APP_ROLE": "from-environment"})
    assert dict(s.env) == {"APP_ROLE": "from-environment", "APP_REGION": "eu"}


def test_help_does_not_import_dotenv() -> None:
    probe = (
        "import sys\n"
        "from sqlmig.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('dotenv' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert "Usage" in out.stdout and out.stderr.strip() == "False"
