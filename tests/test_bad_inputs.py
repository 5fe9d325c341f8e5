"""A catalogue of bad inputs against real PostgreSQL: each gives a clear message (the file, the line, what to do)
and leaves the database exactly as it was."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

import sqlmig
from sqlmig.cli.commands import main

from .helpers import history, tree
from .pgcluster import PgServer, password_login, running_as_root

Conn = psycopg.Connection[tuple[object, ...]]
BASE = "migrate/20240101_000000_base.up.sql"
FIRST = "migrate/20240102_000000_first.up.sql"
BAD = "migrate/20240103_000000_bad"
UP = f"{BAD}.up.sql"


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    """A migrations folder whose first migration is applied; the tests add a pending good one and a bad one."""
    directory = tree(tmp_path / "migrations", {BASE: "CREATE TABLE public.base (id int);\n"})
    assert sqlmig.apply(db_url, directory).names == ("20240101_000000_base",)
    tree(directory, {FIRST: "CREATE TABLE public.first (id int);\n"})
    return directory


def snapshot(db: Conn) -> tuple[list[tuple[object, ...]], set[tuple[object, ...]]]:
    """The history rows and every relation outside the system schemas."""
    rows = db.execute("SELECT id, name, type, checksum FROM public.migration_history ORDER BY id").fetchall()
    relations = db.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
    ).fetchall()
    return rows, set(relations)


def assert_unchanged(db: Conn, before: tuple[list[tuple[object, ...]], set[tuple[object, ...]]]) -> None:
    assert snapshot(db) == before
    assert history(db) == ["20240101_000000_base"]
    assert db.execute("SELECT to_regclass('public.first')").fetchone() == (None,)


def where(directory: Path, rel: str, line: int) -> str:
    path = directory / rel
    return f"{path}:{line}" if line else str(path)


# (id, files to add, exception, file named, line, what the message must say)
CATALOGUE: list[tuple[str, dict[str, str | bytes], type[sqlmig.SqlmigError], str, int, list[str]]] = [
    (
        "non-UTF-8 bytes",
        {UP: b"CREATE TABLE public.bad (id int);\nINSERT INTO public.bad VALUES ('caf\xe9');\n"},
        sqlmig.DiscoveryError,
        UP,
        2,
        ["not valid UTF-8", "save the file as UTF-8"],
    ),
    (
        "psql connect",
        {UP: "CREATE TABLE public.bad (id int);\n\\connect other_db\nCREATE TABLE public.other (id int);\n"},
        sqlmig.DiscoveryError,
        UP,
        2,
        ["\\connect is a psql meta-command", "not through psql", "remove the line", "--dir, --database-url"],
    ),
    (
        "psql c with blanks before it",
        {UP: "CREATE TABLE public.bad (id int);\n\n   \\c other_db\n"},
        sqlmig.DiscoveryError,
        UP,
        3,
        ["\\c is a psql meta-command", "own migrations folder and URL"],
    ),
    (
        "psql include",
        {UP: "\\i tables.sql\n"},
        sqlmig.DiscoveryError,
        UP,
        1,
        ["\\i is a psql meta-command", "put the SQL of the included file in its place"],
    ),
    (
        "psql set",
        {UP: "\\set n 10\nCREATE TABLE public.bad AS SELECT :n AS n;\n"},
        sqlmig.DiscoveryError,
        UP,
        1,
        ["\\set is a psql meta-command", "template variable", "--var name=VALUE"],
    ),
    (
        "pg_dump restrict",
        {
            UP: "\\restrict 7mQv2GdxWkVbFhS3\n\nSET statement_timeout = 0;\nCREATE TABLE public.bad (id int);\n\n"
            "\\unrestrict 7mQv2GdxWkVbFhS3\n"
        },
        sqlmig.DiscoveryError,
        UP,
        1,
        ["\\restrict is a psql meta-command", "remove both lines pg_dump wrote", f"{UP}:6: \\unrestrict"],
    ),
    (
        "psql meta-command in a template",
        {UP: "CREATE TABLE {{ schema | ident }}.bad (id int);\n\\connect other_db\n"},
        sqlmig.DiscoveryError,
        UP,
        2,
        ["\\connect is a psql meta-command"],
    ),
    (
        "unknown directive",
        {UP: "-- sqlmig: no-transactoin\nCREATE TABLE public.bad (id int);\n"},
        sqlmig.DiscoveryError,
        UP,
        1,
        ["unknown directive 'no-transactoin'", "known: ", "no-transaction"],
    ),
    (
        "down file without an up file",
        {f"{BAD}.down.sql": "DROP TABLE public.bad;\n"},
        sqlmig.DiscoveryError,
        f"{BAD}.down.sql",
        0,
        ["down file has no up file (expected 20240103_000000_bad.up.sql)", "add it, or delete this file"],
    ),
    (
        "duplicate versions",
        {UP: "CREATE TABLE public.bad (id int);\n", "migrate/20240103_000000_twin.up.sql": "SELECT 1;\n"},
        sqlmig.DiscoveryError,
        UP,
        0,
        ["duplicate version 20240103_000000 (also used by 20240103_000000_twin)", "give one of them a newer"],
    ),
    (
        "file name outside the naming rule",
        {"migrate/2024-01-03_bad.up.sql": "CREATE TABLE public.bad (id int);\n"},
        sqlmig.DiscoveryError,
        "migrate/2024-01-03_bad.up.sql",
        0,
        ["does not fit the naming rule", "expected <YYYYMMDD>_<HHMMSS>_<name>.up.sql"],
    ),
    (
        "directory named like a migration",
        {f"{UP}/README": "not a migration\n"},
        sqlmig.DiscoveryError,
        UP,
        0,
        ["is a directory", "rename it"],
    ),
    (
        "template syntax error",
        {UP: "CREATE TABLE public.bad (id int);\nCREATE TABLE {{ schema }.t (id int);\n"},
        sqlmig.RenderError,
        UP,
        2,
        ["template error", "hint: if this file is plain SQL", "-- sqlmig: no-template"],
    ),
    (
        "undefined variable",
        {UP: "CREATE TABLE public.bad (id int);\n\nINSERT INTO public.bad VALUES ({{ tenant_id }});\n"},
        sqlmig.RenderError,
        UP,
        3,
        ["'tenant_id' is undefined", "pass it with --var NAME=VALUE"],
    ),
]
# Inputs that go through a filter before they fail.
FILTERED = [
    pytest.param(
        {UP: "CREATE TABLE public.bad (id int);\n\nINSERT INTO public.bad VALUES ({{ tenant_id | literal }});\n"},
        sqlmig.RenderError,
        UP,
        3,
        ["'tenant_id' is undefined", "pass it with --var NAME=VALUE"],
        id="undefined variable through the literal filter",
    ),
]


@pytest.mark.parametrize(
    ("files", "error", "rel", "line", "says"), [pytest.param(*c[1:], id=c[0]) for c in CATALOGUE] + FILTERED
)
def test_bad_file_changes_nothing(
    db_url: str,
    db: Conn,
    project: Path,
    files: dict[str, str | bytes],
    error: type[sqlmig.SqlmigError],
    rel: str,
    line: int,
    says: list[str],
) -> None:
    """The bad file comes after a good pending one: that one must not be applied either."""
    before = snapshot(db)
    tree(project, files)
    with pytest.raises(error) as info:
        sqlmig.apply(db_url, project, schema="public")
    text = str(info.value)
    assert f"{where(project, rel, line)}: " in text
    for fragment in says:
        assert fragment in text
    assert_unchanged(db, before)


def test_every_meta_command_of_a_file_is_listed(db_url: str, db: Conn, project: Path) -> None:
    before = snapshot(db)
    tree(project, {UP: "\\set ON_ERROR_STOP on\nSELECT 1;\n\\i a.sql\nSELECT 'x\n\\not_a_command';\n\\c db\n"})
    with pytest.raises(sqlmig.DiscoveryError) as info:
        sqlmig.apply(db_url, project)
    problems = [(p.path.name, p.line, p.message.split()[0]) for p in info.value.problems]
    name = Path(UP).name
    assert problems == [(name, 1, "\\set"), (name, 3, "\\i"), (name, 6, "\\c")]
    assert_unchanged(db, before)


def test_meta_command_in_a_down_file_keeps_the_migration(db_url: str, db: Conn, project: Path) -> None:
    tree(project, {f"{BASE[:-7]}.down.sql": "\\connect other\nDROP TABLE public.base;\n"})
    with pytest.raises(sqlmig.DiscoveryError, match=r"base\.down\.sql:1: \\connect is a psql meta-command"):
        sqlmig.rollback(db_url, project)
    assert history(db) == ["20240101_000000_base"]
    assert db.execute("SELECT to_regclass('public.base')").fetchone() != (None,)


def test_empty_down_file_rolls_back_and_removes_the_row(db_url: str, db: Conn, project: Path) -> None:
    """A down file with nothing to undo (only a comment) is a down file like any other: the row goes."""
    tree(project, {f"{BASE[:-7]}.down.sql": "-- nothing to undo\n"})
    assert sqlmig.rollback(db_url, project).names == ("20240101_000000_base",)
    assert history(db) == []


def test_template_rendering_to_nothing_is_allowed(db_url: str, db: Conn, project: Path) -> None:
    """A conditional migration: with the variable unset it does nothing, and is recorded as applied."""
    tree(project, {UP: "{% if with_audit == 'yes' %}\nCREATE TABLE public.audit (id int);\n{% endif %}\n"})
    report = sqlmig.apply(db_url, project, vars={"with_audit": "no"})
    assert report.names == ("20240102_000000_first", "20240103_000000_bad")
    assert db.execute("SELECT to_regclass('public.audit')").fetchone() == (None,)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbfCREATE TABLE public.bad (id int);\nINSERT INTO public.bad VALUES (1);\n",
        b"CREATE TABLE public.bad (id int);\r\nINSERT INTO public.bad VALUES (1);\r\n",
        b"\xef\xbb\xbfCREATE TABLE public.bad (id int);\r\nINSERT INTO public.bad VALUES (1);\r\n",
    ],
    ids=["bom", "crlf", "bom and crlf"],
)
def test_bom_and_crlf_work_and_keep_the_checksum(db_url: str, db: Conn, project: Path, raw: bytes) -> None:
    lf = b"CREATE TABLE public.bad (id int);\nINSERT INTO public.bad VALUES (1);\n"
    tree(project, {UP: raw})
    assert sqlmig.apply(db_url, project).names == ("20240102_000000_first", "20240103_000000_bad")
    assert db.execute("SELECT count(*) FROM public.bad").fetchone() == (1,)
    row = db.execute("SELECT checksum FROM public.migration_history WHERE name = '20240103_000000_bad'").fetchone()
    assert row == (hashlib.sha256(lf).hexdigest(),)
    (project / UP).write_bytes(lf)  # the same file saved without BOM and CRLF is not drift
    assert not sqlmig.apply(db_url, project)


def test_symlink_out_of_the_migrations_folder(db_url: str, db: Conn, project: Path, tmp_path: Path) -> None:
    before = snapshot(db)
    outside = tree(tmp_path / "elsewhere", {"shared.sql": "CREATE TABLE public.bad (id int);\n"}) / "shared.sql"
    (project / UP).symlink_to(outside)
    with pytest.raises(sqlmig.DiscoveryError) as info:
        sqlmig.apply(db_url, project)
    assert f"{project / UP}: symlink points outside the migrations folder (-> {outside.resolve()})" in str(info.value)
    assert "copy the file in instead" in str(info.value)
    assert_unchanged(db, before)


def test_symlink_inside_the_migrations_folder_works(db_url: str, db: Conn, project: Path) -> None:
    shared = tree(project, {"shared/bad.sql": "CREATE TABLE public.bad (id int);\n"}) / "shared/bad.sql"
    (project / UP).symlink_to(Path("../shared/bad.sql"))
    assert sqlmig.apply(db_url, project).names[-1] == "20240103_000000_bad"
    row = db.execute("SELECT checksum FROM public.migration_history WHERE name = '20240103_000000_bad'").fetchone()
    assert row == (hashlib.sha256(shared.read_bytes()).hexdigest(),)


def test_dangling_symlink(db_url: str, db: Conn, project: Path) -> None:
    before = snapshot(db)
    (project / UP).symlink_to(Path("20240103_000000_deleted.sql"))
    with pytest.raises(sqlmig.DiscoveryError) as info:
        sqlmig.apply(db_url, project)
    assert f"{project / UP}: cannot read file: broken symlink (-> 20240103_000000_deleted.sql)" in str(info.value)
    assert "point it at an existing file, or delete it" in str(info.value)
    assert_unchanged(db, before)


UNREADABLE_RUN = """
import json, sys
import sqlmig
try:
    sqlmig.apply(sys.argv[1], sys.argv[2])
except sqlmig.SqlmigError as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["none", ""]))
"""


def unprivileged_python() -> list[str] | None:
    """A command running this Python as the OS user nobody, with this test run's import path; None if there is
    none (the virtualenv's interpreter may live where nobody cannot read, such as /root)."""
    runuser = shutil.which("runuser")
    if runuser is None:
        return None
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in dict.fromkeys(
        [sys.executable, os.path.realpath(sys.executable), shutil.which(version), f"/usr/bin/{version}"]
    ):
        if exe is None or not os.path.exists(exe):
            continue
        command = [runuser, "-u", "nobody", "--", exe]
        probe = subprocess.run(
            [*command, "-c", "import sqlmig.api"], env=_nobody_env(), capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return command
    return None


def _nobody_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"}


@pytest.fixture
def shared_project(db_url: str) -> Iterator[Path]:
    """A migrations folder every OS user can read (pytest's tmp_path is private to the current one)."""
    base = Path(tempfile.mkdtemp(prefix="sqlmig-unreadable-"))
    try:
        base.chmod(0o755)
        directory = tree(base / "migrations", {BASE: "CREATE TABLE public.base (id int);\n"})
        assert sqlmig.apply(db_url, directory)
        tree(directory, {FIRST: "CREATE TABLE public.first (id int);\n", UP: "CREATE TABLE public.bad (id int);\n"})
        for folder in (directory, directory / "migrate"):
            folder.chmod(0o755)
            for file in folder.glob("*.sql"):
                file.chmod(0o644)
        yield directory
    finally:
        shutil.rmtree(base)


def test_unreadable_file(db_url: str, db: Conn, shared_project: Path) -> None:
    before = snapshot(db)
    (shared_project / UP).chmod(0)
    if running_as_root():  # root reads any file: run sqlmig as an unprivileged user
        command = unprivileged_python()
        if command is None:
            pytest.skip("running as root, and no Python that the OS user nobody can run with runuser")
        out = subprocess.run(
            [*command, "-c", UNREADABLE_RUN, db_url, str(shared_project)],
            env=_nobody_env(),
            cwd=shared_project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        kind, text = json.loads(out.stdout)
    else:
        try:
            (shared_project / UP).read_bytes()
        except PermissionError:
            pass
        else:
            pytest.skip("this user can read a file with mode 000")
        with pytest.raises(sqlmig.SqlmigError) as info:
            sqlmig.apply(db_url, shared_project)
        kind, text = type(info.value).__name__, str(info.value)
    assert kind == "DiscoveryError"
    assert f"{shared_project / UP}: cannot read file: Permission denied; check its permissions" in text
    assert_unchanged(db, before)


def test_history_row_without_its_file(db_url: str, db: Conn, project: Path) -> None:
    before = snapshot(db)
    (project / BASE).unlink()
    with pytest.raises(sqlmig.MissingFileError) as info:
        sqlmig.apply(db_url, project)
    text = str(info.value)
    assert "20240101_000000_base" in text and "no file in the migrate folder" in text
    assert "Restore the file(s) from version control" in text and "delete their rows" in text
    assert info.value.names == ("20240101_000000_base",)
    assert_unchanged(db, before)


SECRET = "s3cret-Pw-91c4"
BAD_URLS = [
    pytest.param(f"postgresql://app:{SECRET}@127.0.0.1:notaport/app", id="port is not a number"),
    pytest.param("not a database url", id="not a URL"),
    pytest.param(f"postgresql://app:{SECRET}@[::1/app", id="unbalanced IPv6 bracket"),
    pytest.param(f"postgresql://app:{SECRET}@127.0.0.1:1/app?sslmode=sometimes", id="unknown sslmode"),
    pytest.param(
        f"postgresql://app@127.0.0.1:1/app?password={SECRET}&connect_timeout=2", id="password as a query parameter"
    ),
    pytest.param(f"host=127.0.0.1 port=1 user=app password={SECRET} connect_timeout=2", id="key=value string"),
    pytest.param(
        f"app:{SECRET}@127.0.0.1:1/app",
        id="scheme forgotten",
    ),
    pytest.param(
        f"postgresql://app:p@{SECRET}@127.0.0.1:1/app?connect_timeout=2",
        id="unencoded @ in the password",
    ),
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    directory = tree(tmp_path / "migrations", {FIRST: "CREATE TABLE public.first (id int);\n"})
    with pytest.raises((sqlmig.ConfigError, sqlmig.ConnectError)) as info:
        sqlmig.apply(url, directory)
    assert SECRET not in str(info.value)
    assert "(from the given URL)" in str(info.value)
    result = CliRunner().invoke(main, ["migrate", "up", "--database-url", url, "--dir", str(directory)])
    assert result.exit_code == 5
    assert "error: cannot connect to " in result.stderr
    assert SECRET not in result.output


# --- through the CLI --------------------------------------------------------------------------------------------


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


CLI_CASES = [
    ("psql meta-command", {UP: "\\restrict abc\nCREATE TABLE public.bad (id int);\n"}, 4, f"{UP}:1: \\restrict is"),
    ("NUL byte", {UP: "SELECT 1;\nSELECT 'a\0b';\n"}, 4, f"{UP}:2: contains a NUL byte"),
    ("unknown directive", {UP: "-- sqlmig: no-tx\nSELECT 1;\n"}, 4, f"{UP}:1: unknown directive 'no-tx'"),
    ("undefined variable", {UP: "SELECT {{ x }};\n"}, 4, f"{UP}:1: template error: 'x' is undefined"),
]


@pytest.mark.parametrize(("files", "code", "says"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_exit_code(
    db_url: str, db: Conn, project: Path, files: dict[str, str], code: int, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(db)
    monkeypatch.chdir(project.parent)
    tree(project, files)
    result = run("migrate", "up", "--database-url", db_url, "--dir", "migrations")
    assert result.exit_code == code
    assert result.stdout == ""
    assert says.replace("migrate/", "migrations/migrate/", 1) in result.stderr
    assert_unchanged(db, before)


# --- a wrong password -----------------------------------------------------------------------------------------------


@pytest.fixture
def sqlmig_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the "sqlmig" logger at DEBUG, also after a CLI run in this process set up its own output."""
    logger = logging.getLogger("sqlmig")
    saved = logger.handlers[:], logger.propagate
    logger.handlers[:], logger.propagate = [], True
    caplog.set_level(logging.DEBUG, logger="sqlmig")
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.handlers[:], logger.propagate = saved


def test_wrong_password(
    pg_server: PgServer, db_url: str, db: Conn, tmp_path: Path, sqlmig_logs: pytest.LogCaptureFixture
) -> None:
    login = password_login(pg_server)
    dbname = db.info.dbname
    # An application role: it may create tables in public, not schemas (sqlmig must not need CREATE SCHEMA).
    db.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(login.role)))
    directory = tree(tmp_path / "migrations", {FIRST: "CREATE TABLE public.first (id int);\n"})
    wrong = "wrong-" + login.password[::-1]
    url = login.url(dbname, password=wrong)

    with pytest.raises(sqlmig.ConnectError) as info:
        sqlmig.apply(url, directory)
    text = str(info.value)
    assert "password authentication failed" in text and f"{login.role}:***@" in text
    result = CliRunner().invoke(main, ["migrate", "up", "--database-url", url, "--dir", str(directory)])
    assert result.exit_code == 5 and "password authentication failed" in result.stderr
    logged = "\n".join(r.getMessage() for r in sqlmig_logs.records)
    for secret in (wrong, login.password):
        assert secret not in text and secret not in result.output and secret not in logged
    assert db.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,)

    assert sqlmig.apply(login.url(dbname), directory).names == ("20240102_000000_first",)
    owner = db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'first'").fetchone()
    assert owner == (login.role,)


# --- one validation for every file, whatever its size, through up, --dry-run, verify and lint -------------------


class Refused(NamedTuple):
    """A file sqlmig refuses: ``head`` then ``tail``; ``line`` is the line in ``tail`` that the error names, and
    ``code`` the lint finding that says the same."""

    id: str
    tail: str
    line: int
    code: str
    says: str
    head: str = "CREATE TABLE public.bad (t text);\n"


NO_TX = "-- sqlmig: no-transaction\nCREATE TABLE public.bad (t text);\n"
REFUSED = [
    Refused(
        "COMMIT",
        "INSERT INTO public.bad VALUES ('before');\nCOMMIT;\nINSERT INTO public.bad VALUES ('after');\n",
        2,
        "SQM008",
        "'COMMIT' controls the transaction, but sqlmig already runs each migration in one: remove BEGIN/COMMIT",
    ),
    Refused("BEGIN after a comment", "-- its own transaction\nbegin;\nSELECT 1;\n", 2, "SQM008", "'BEGIN' controls"),
    Refused("PREPARE TRANSACTION", "PREPARE TRANSACTION 'x';\n", 1, "SQM008", "'PREPARE' controls the transaction"),
    Refused("NUL byte", "SELECT 1;\nSELECT 'a\0b';\n", 2, "SQM005", "contains a NUL byte (\\0)"),
    Refused("psql meta-command", "SELECT 1;\n\\connect other\n", 2, "SQM003", "\\connect is a psql meta-command"),
    Refused("DISCARD ALL", "DISCARD ALL;\n", 1, "SQM009", "DISCARD ALL releases every advisory lock"),
    Refused(
        "pg_advisory_unlock_all",
        "SELECT 1,\n  pg_advisory_unlock_all();\n",
        2,
        "SQM009",
        "pg_advisory_unlock_all() releases advisory locks of the session",
    ),
    Refused(
        "pg_advisory_unlock in a DO block",
        "DO $$ BEGIN PERFORM pg_catalog.pg_advisory_unlock(42); END $$;\n",
        1,
        "SQM009",
        "this DO block calls pg_advisory_unlock*()",
    ),
    Refused("DISCARD ALL, no-transaction", "DISCARD ALL;\n", 1, "SQM009", "DISCARD ALL releases", NO_TX),
    Refused(
        "meta-command, no-transaction", "SELECT 1;\n\\i more.sql\n", 2, "SQM003", "\\i is a psql meta-command", NO_TX
    ),
    Refused(
        "meta-command after SQL, no-transaction",
        "SELECT 1;\nSELECT 'CREATE INDEX CONCURRENTLY t_id ON public.bad (t)' \\gexec\n",
        2,
        "SQM003",
        "\\gexec is a psql meta-command",
        NO_TX,
    ),
    Refused(
        "meta-command after SQL",
        "SELECT E'\\\\', $$\\$$ /* \\ */, 1 -- \\x\n  , format('%I', 'x') \\g out.txt\n",
        2,
        "SQM003",
        "\\g is a psql meta-command",
    ),
    Refused(
        "COPY TO STDOUT", "SELECT 1;\nCOPY (SELECT 1) TO STDOUT;\n", 2, "SQM003", "COPY ... TO STDOUT sends its rows"
    ),
    Refused(
        "COPY TO STDOUT, no-transaction",
        "SELECT 1;\ncopy public.bad to\n  stdout;\n",
        2,
        "SQM003",
        "a migration's output goes nowhere: remove it",
        NO_TX,
    ),
]
REFUSAL_CODES = {"SQM003", "SQM005", "SQM008", "SQM009"}  # lint's findings for what up refuses to run
# Five INSERTs of 1 MB each: with them before its tail, a file is larger than 4 MiB and streamed from disk.
PADDING = "INSERT INTO public.bad VALUES ('" + "x" * 1_000_000 + "');\n"


def bad_file(case: Refused, streamed: bool) -> tuple[str, int]:
    """The file's text and the line the error names."""
    padding = PADDING * 5 if streamed else ""
    return case.head + padding + case.tail, case.head.count("\n") + padding.count("\n") + case.line


@pytest.mark.timeout(300)
@pytest.mark.parametrize("streamed", [False, True], ids=["in memory", "streamed"])
@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_up_dry_run_verify_and_lint_refuse_the_same(
    db_url: str, db: Conn, project: Path, case: Refused, streamed: bool
) -> None:
    """Whatever its size, a refused file is refused before any SQL of the run is sent, with the same file, line and
    reason by all four; the database and its history stay as they were."""
    from sqlmig.lint.driver import lint
    from sqlmig.preview import dry_run
    from sqlmig.verify.scratch import verify

    text, line = bad_file(case, streamed)
    tree(project, {UP: text})
    assert (project / UP).stat().st_size > sqlmig.render.STREAM_THRESHOLD or not streamed
    before = snapshot(db)
    where_ = (project / UP, line)
    for call in (sqlmig.apply, dry_run, verify):
        with pytest.raises(sqlmig.DiscoveryError) as info:
            call(db_url, project)
        assert [(p.path, p.line) for p in info.value.problems] == [where_]
        assert case.says in info.value.problems[0].message
        assert_unchanged(db, before)
    found = [f for f in lint(paths=[project]).findings if f.path == project / UP and f.code in REFUSAL_CODES]
    assert [(f.path, f.line, f.code) for f in found] == [(*where_, case.code)]
    assert case.says in f"{found[0].message}: {found[0].hint}"
    assert db.execute("SELECT datname FROM pg_database WHERE datname LIKE 'sqlmig_verify_%'").fetchall() == []


def test_backslashes_in_quotes_and_comments_are_sql(db_url: str, db: Conn, project: Path) -> None:
    """Only a backslash outside quotes, dollar quotes and comments starts a psql meta-command; the others run."""
    text = (
        "CREATE TABLE public.bad (t text);\n"
        "INSERT INTO public.bad VALUES (E'a\\\\b'), ('c\\d'), ($$e\\f$$), ($x$\\gexec$x$) /* \\g */; -- \\x\n"
    )
    tree(project, {UP: text})
    sqlmig.apply(db_url, project)
    assert db.execute("SELECT t FROM public.bad").fetchall() == [("a\\b",), ("c\\d",), ("e\\f",), ("\\gexec",)]


def test_copy_to_stdout_in_a_migration_ends(db_url: str, project: Path) -> None:
    """psql prints what COPY ... TO STDOUT sends; sqlmig has nowhere to print it. It is refused with advice, before
    anything runs, instead of leaving the run reading results for ever while it holds the migration lock."""
    tree(
        project,
        {UP: "CREATE TABLE public.bad (id int);\nCOPY (SELECT 1) TO STDOUT;\nCREATE TABLE public.u (id int);\n"},
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    done = subprocess.run(
        [sys.executable, "-m", "sqlmig", "migrate", "up", "--database-url", db_url, "--dir", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 4, done.stderr
    assert f"{project / UP}:2: COPY ... TO STDOUT sends its rows to the client" in done.stderr


NOTHING = [
    ("empty", ""),
    ("whitespace only", "\n  \n\t\r\n"),
    ("comments only", "-- add the phone column\n/* later */\n;\n"),
    ("no-transaction, comments only", "-- sqlmig: no-transaction\n-- nothing yet\n"),
    ("streamed, comments only", "-- a placeholder for the bulk data\n" + ("-- " + "x" * 1000 + "\n") * 4500),
]


@pytest.mark.parametrize("text", [t for _, t in NOTHING], ids=[i for i, _ in NOTHING])
def test_a_file_without_statements_is_applied_and_recorded(db_url: str, db: Conn, project: Path, text: str) -> None:
    """Placeholders exist in real histories; psql, goose, golang-migrate and dbmate apply and record them. lint
    warns; up, --dry-run and verify take them as they are."""
    from sqlmig.lint.driver import lint
    from sqlmig.preview import dry_run
    from sqlmig.verify.scratch import verify

    tree(project, {UP: text, f"{BAD}.down.sql": "-- nothing to undo\n"})
    assert [s.name for s in dry_run(db_url, project)] == ["20240102_000000_first", "20240103_000000_bad"]
    checked = verify(db_url, project)
    assert "20240103_000000_bad" in checked.checked
    assert [p for p in checked.problems if p.name == "20240103_000000_bad"] == []
    assert sqlmig.apply(db_url, project).names == ("20240102_000000_first", "20240103_000000_bad")
    assert history(db) == ["20240101_000000_base", "20240102_000000_first", "20240103_000000_bad"]
    assert not sqlmig.apply(db_url, project)
    report = lint(paths=[project], rules=["conventions"])  # SQM010 is a convention, on when chosen
    found = [(f.path.name, f.severity) for f in report.findings if f.code == "SQM010"]
    assert found == [("20240103_000000_bad.up.sql", "warning"), ("20240103_000000_bad.down.sql", "warning")]


def test_new_stubs_are_applied_and_recorded(db_url: str, db: Conn, project: Path) -> None:
    """The files 'sqlmig new' writes hold only comments until they are filled in."""
    from sqlmig.scaffold import new_migration

    up, _ = new_migration(project, "migrate", "placeholder")
    name = up.name.removesuffix(".up.sql")
    assert sqlmig.apply(db_url, project).names == ("20240102_000000_first", name)
    assert history(db) == ["20240101_000000_base", "20240102_000000_first", name]
