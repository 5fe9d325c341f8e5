"""Security against real PostgreSQL: template values cannot inject SQL, and no password is ever shown.

Passwords reach sqlmig three ways (a URL argument, ``.env``, the environment); for each, connection failures, SQL
failures and successful runs are checked in the exception with its traceback, in every log record (the "sqlmig"
logger at DEBUG, and the root logger), and in the CLI's stdout and stderr.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

import sqlmig
from sqlmig.cli.commands import main

from .helpers import tree
from .pgcluster import PasswordLogin, PgServer, password_login

Conn = psycopg.Connection[tuple[object, ...]]
URL_VARIABLES = ("SQLMIG_DATABASE_URL", "DIRECT_URL", "DATABASE_URL")


def cli(*args: str) -> click.testing.Result:
    """Run the CLI in-process, then give the "sqlmig" logger back its settings: the CLI points it at its own
    output, and log records of later API calls must still reach caplog."""
    logger = logging.getLogger("sqlmig")
    saved = logger.handlers[:], logger.propagate, logger.level
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        logger.handlers[:], logger.propagate = saved[:2]
        logger.setLevel(saved[2])


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, the "sqlmig" logger's at DEBUG, whatever an earlier CLI run in this process left set."""
    logger = logging.getLogger("sqlmig")
    saved = logger.handlers[:], logger.propagate
    logger.handlers[:], logger.propagate = [], True
    caplog.set_level(logging.DEBUG, logger="sqlmig")
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.handlers[:], logger.propagate = saved


# --- template values --------------------------------------------------------------------------------------------

VICTIM = "CREATE TABLE public.victim (id int);\nINSERT INTO public.victim VALUES (1);\n"
TENANT = """CREATE SCHEMA {{ schema | ident }};
CREATE TABLE {{ schema | ident }}.{{ table | ident }} (label text NOT NULL DEFAULT {{ label | literal }});
INSERT INTO {{ schema | ident }}.{{ table | ident }} VALUES ({{ label | literal }});
INSERT INTO {{ schema | ident }}.{{ table | ident }} DEFAULT VALUES;
"""
# (id, schema, table, label): each tries to end the quoting and run DROP TABLE public.victim.
HOSTILE = [
    (
        "quotes",
        'x"; DROP TABLE public.victim; --',
        't"; DROP TABLE public.victim; --',
        "'); DROP TABLE public.victim; --",
    ),
    (
        "backslashes",
        'b\\"; DROP TABLE public.victim; --',
        "t\\",
        "\\'); DROP TABLE public.victim; --\\",
    ),
    (
        "newlines and psql meta-commands",
        'n"\n\\connect postgres\nDROP TABLE public.victim; --',
        "t\n\\i /etc/passwd\n",
        "x'\n\\connect postgres\n'); DROP TABLE public.victim; --\n\\unrestrict k",
    ),
    ("dollar quotes", "$$; DROP TABLE public.victim; $$", "$t$", "$$'); DROP TABLE public.victim; --$$"),
    ("comments", "*/ DROP TABLE public.victim; /*", "-- t", "*/'); DROP TABLE public.victim; /* -- "),
    ("template syntax", "{{ schema }}", "{% raw %}", "{{ 7 * 7 }}'); DROP TABLE public.victim; --"),
    ("unicode", 'schéma\u2028"; DROP TABLE public.victim; --', "t\u00a0", "é\u2028'); DROP TABLE public.victim; --"),
]


def assert_exact_objects(db: Conn, schema: str, table: str, label: str) -> None:
    assert db.execute("SELECT count(*) FROM public.victim").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() == (1,)
    rows = db.execute(sql.SQL("SELECT label FROM {}").format(sql.Identifier(schema, table))).fetchall()
    assert rows == [(label,), (label,)]


@pytest.mark.parametrize(("schema", "table", "label"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_template_values_cannot_inject_sql(
    db_url: str, db: Conn, tmp_path: Path, schema: str, table: str, label: str
) -> None:
    directory = tree(
        tmp_path / "migrations",
        {"migrate/20240101_000000_victim.up.sql": VICTIM, "migrate/20240102_000000_tenant.up.sql": TENANT},
    )
    report = sqlmig.apply(db_url, directory, schema=schema, vars={"table": table, "label": label})
    assert report.names == ("20240101_000000_victim", "20240102_000000_tenant")
    assert_exact_objects(db, schema, table, label)


def test_template_values_from_the_cli_cannot_inject_sql(
    db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, schema, table, label = HOSTILE[2]
    monkeypatch.chdir(tmp_path)
    tree(
        tmp_path / "migrations",
        {"migrate/20240101_000000_victim.up.sql": VICTIM, "migrate/20240102_000000_tenant.up.sql": TENANT},
    )
    result = cli(
        "migrate",
        "up",
        "--database-url",
        db_url,
        "--schema",
        schema,
        "--var",
        f"table={table}",
        "--var",
        f"label={label}",
    )
    assert result.exit_code == 0, result.output
    assert_exact_objects(db, schema, table, label)


SECRET = "s3cret-of-the-ci-runner"
ESCAPE = """CREATE TABLE public.t (id int);
-- the file under review
SELECT {{ cycler.__init__.__globals__.os.environ['SQLMIG_TEST_SECRET'] }},
       {{ lipsum.__globals__['os'].popen('touch MARKER').read() }};
"""


def test_templates_cannot_escape_under_render_lint_or_up(
    db_url: str, db: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQLMIG_TEST_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path / "migrations", {"migrate/20240101_000000_escape.up.sql": ESCAPE})
    where = "migrations/migrate/20240101_000000_escape.up.sql:3"
    render = cli("render", "migrations/migrate/20240101_000000_escape.up.sql")
    lint = cli("lint")
    up = cli("migrate", "up", "--database-url", db_url)
    for result in (render, lint, up):
        assert result.exit_code == 4, result.output
        assert "access to attribute '__init__' of 'type' object is not allowed" in result.output
        assert where in result.output and SECRET not in result.output
    with pytest.raises(sqlmig.RenderError) as info:
        sqlmig.apply(db_url, "migrations")
    assert SECRET not in str(info.value) and info.value.line == 3
    assert not (tmp_path / "MARKER").exists()
    assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


ENDLESS = "SELECT 1;\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"


@pytest.mark.timeout(90)
def test_lint_of_a_template_that_would_loop_for_hours_ends(tmp_path: Path) -> None:
    """lint renders the templates of files under review (CI on pull requests): 10^10 loop iterations must end
    with a template error, not keep the job busy for hours."""
    directory = tree(tmp_path / "m", {"migrate/20240101_000000_a.up.sql": ENDLESS})
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sqlmig", "lint", "--dir", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("lint did not end within 60 s")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "20240101_000000_a.up.sql:2" in done.stdout + done.stderr
    assert "500,000 loop iterations and calls" in done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_up_of_a_template_that_would_loop_for_hours_changes_nothing(db_url: str, db: Conn, tmp_path: Path) -> None:
    directory = tree(
        tmp_path / "migrations",
        {
            "migrate/20240101_000000_t.up.sql": "CREATE TABLE public.t (id int);\n",
            "migrate/20240102_000000_a.up.sql": ENDLESS,
        },
    )
    with pytest.raises(sqlmig.RenderError) as info:
        sqlmig.apply(db_url, directory)
    assert info.value.line == 2 and "500,000 loop iterations" in info.value.message
    assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


# --- passwords --------------------------------------------------------------------------------------------------

SOURCES = ["argument", "dotenv", "environment"]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a migrations folder and no URL anywhere yet."""
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    tree(tmp_path / "migrations", {"migrate/20240101_000000_a.up.sql": "CREATE TABLE public.a (id int);\n"})
    return tmp_path


def provide(source: str, url: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str | None, list[str]]:
    """Make ``url`` reach sqlmig from ``source``: returns the API's database argument and the CLI's options."""
    if source == "argument":
        return url, ["--database-url", url]
    if source == "dotenv":
        (cwd / ".env").write_text(f"# the app's settings\nDATABASE_URL='{url}'\n")
    else:
        monkeypatch.setenv("DATABASE_URL", url)
    return None, []


def secrets_of(password: str) -> list[str]:
    return [password, quote(password, safe="")]


def assert_hidden(password: str, *texts: str) -> None:
    for secret in secrets_of(password):
        for text in texts:
            assert secret not in text


def everything(exc: BaseException | None, logs: pytest.LogCaptureFixture, *results: click.testing.Result) -> list[str]:
    """All the text a user or a log collector could see."""
    texts = [r.getMessage() for r in logs.records] + [logs.text]
    if exc is not None:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for result in results:
        texts += [result.stdout, result.stderr]
    return texts


# Characters that need percent-encoding in a URL, so that the encoded form is checked too.
ODD_PASSWORD = "Pw:1/s@cr%t#x?y&z=w'q"


@pytest.mark.parametrize("source", SOURCES)
def test_connection_failure_hides_the_password(
    source: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql://app:{quote(ODD_PASSWORD, safe='')}@127.0.0.1:1/app?connect_timeout=2"
    database, options = provide(source, url, cwd, monkeypatch)
    with pytest.raises(sqlmig.ConnectError) as info:
        sqlmig.apply(database, "migrations")
    assert "app:***@127.0.0.1:1/app" in str(info.value)
    up = cli("migrate", "up", *options)
    status = cli("status", "--json", *options)
    assert up.exit_code == status.exit_code == 5
    assert "app:***@127.0.0.1:1/app" in up.stderr and up.stdout == ""
    error = json.loads(status.stdout)["error"]  # --json reports the failure as a document too, password hidden
    assert error["type"] == "ConnectError" and "app:***@127.0.0.1:1/app" in error["message"]
    assert_hidden(ODD_PASSWORD, *everything(info.value, logs, up, status))


@pytest.fixture
def login(pg_server: PgServer, db: Conn) -> PasswordLogin:
    """A role that must give its password, owning the test's database, with a password that needs encoding."""
    made = password_login(pg_server)
    db.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(made.role), sql.Literal(ODD_PASSWORD)))
    db.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db.info.dbname), sql.Identifier(made.role))
    )
    return PasswordLogin(made.role, ODD_PASSWORD, made.url_params)


@pytest.mark.parametrize("source", SOURCES)
def test_sql_failure_hides_the_password(
    source: str,
    login: PasswordLogin,
    db: Conn,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    tree(cwd / "migrations", {"migrate/20240102_000000_bad.up.sql": "SELECT 1;\nSELECT * FROM public.nope;\n"})
    database, options = provide(source, login.url(db.info.dbname), cwd, monkeypatch)
    with pytest.raises(sqlmig.MigrationError) as info:
        sqlmig.apply(database, "migrations")
    assert info.value.applied == ("20240101_000000_a",) and info.value.line == 2
    up = cli("migrate", "up", *options)
    assert up.exit_code == 1 and 'relation "public.nope" does not exist' in up.stderr
    assert_hidden(ODD_PASSWORD, *everything(info.value, logs, up))


@pytest.mark.parametrize("source", SOURCES)
def test_successful_runs_and_status_json_hide_the_password(
    source: str,
    login: PasswordLogin,
    db: Conn,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    database, options = provide(source, login.url(db.info.dbname), cwd, monkeypatch)
    report = sqlmig.apply(database, "migrations")
    assert report.names == ("20240101_000000_a",)
    entries = sqlmig.status(database, "migrations").entries
    assert [e.state for e in entries] == ["applied"]
    tree(cwd / "migrations", {"migrate/20240102_000000_b.up.sql": "CREATE TABLE public.b (id int);\n"})
    up = cli("migrate", "up", "--json", *options)
    status = cli("status", "--json", *options)
    text = cli("status", *options)
    assert up.exit_code == status.exit_code == text.exit_code == 0, up.output
    assert '"state": "applied"' in status.stdout
    texts = [*everything(None, logs, up, status, text), repr(report), repr(entries)]
    assert_hidden(ODD_PASSWORD, *texts)
