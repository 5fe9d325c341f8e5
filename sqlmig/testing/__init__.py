"""pytest plugin for projects that use sqlmig: a database with the project's migrations applied, per test.

The migrations (and, if asked, the seeds) are applied once per session to a template database, and every test
gets its own copy (``CREATE DATABASE … TEMPLATE``), dropped after the test. Installed with sqlmig and loaded by
pytest through its entry point, the plugin does nothing (no server, no connection, no psycopg import) until a
test asks for one of its fixtures:

- ``sqlmig_db``: an open autocommit psycopg connection to the test's database;
- ``sqlmig_url``: the URL of the test's database, for the application's own connections;
- ``sqlmig_template`` (session): the template, with its ``clone()`` for more databases in one test;
- ``sqlmig_templates`` (session): every template of the session, ``get(seeds=…, schema=…, vars=…, schemas=…)``.

``@pytest.mark.sqlmig(seeds=True, schema=…, vars={…})`` gives a test a database from another template;
``schemas=[…]`` (or the ini's ``sqlmig_schemas``, or ``[tool.sqlmig.targets]``) one holding several tenant schemas,
each migrated with its own ``schema`` by a fan-out.
The server is ``--sqlmig-url``, else ``sqlmig_url`` in the ini file, else ``SQLMIG_TEST_DATABASE_URL``, else a
throwaway embedded PostgreSQL started for the session. ``DATABASE_URL`` is never used: the plugin creates and
drops databases, which has no place on the application's own server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ConfigError, SqlmigError

if TYPE_CHECKING:  # the fixtures import these when first used: loading the plugin stays cheap
    import psycopg
    from psycopg.rows import TupleRow

    from .templates import Template, TemplateCache

URL_ENV = "SQLMIG_TEST_DATABASE_URL"
EMBEDDED_PREFIX = "sqlmig-pytest-"
_OWNER_FILE = "pytest.pid"  # the pid of the session that started an embedded server, to find its orphans
MARKER_OPTIONS = ("seeds", "schema", "vars", "schemas")
_CACHE = pytest.StashKey["TemplateCache"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line and ini options."""
    group = parser.getgroup("sqlmig", "sqlmig test databases")
    group.addoption(
        "--sqlmig-url",
        metavar="URL",
        help=f"PostgreSQL server for the test databases (default: ini sqlmig_url, then {URL_ENV}, "
        "then a throwaway embedded PostgreSQL)",
    )
    group.addoption(
        "--sqlmig-directory",
        metavar="PATH",
        help="the folder holding migrate/ and seed/, relative to the rootdir "
        "(default: ini sqlmig_directory, then [tool.sqlmig] directory, then migrations)",
    )
    parser.addini("sqlmig_url", "PostgreSQL server for the test databases (see --sqlmig-url)")
    parser.addini("sqlmig_directory", "the folder holding migrate/ and seed/, relative to the rootdir")
    parser.addini("sqlmig_seeds", "apply the seed track too (default: false)", type="bool", default=False)
    parser.addini("sqlmig_schema", "the {{ schema }} of the migrations (default: [tool.sqlmig] schema)")
    parser.addini("sqlmig_vars", "template variables, NAME=VALUE lines, over [tool.sqlmig] vars", type="linelist")
    parser.addini(
        "sqlmig_schemas",
        "tenant schemas, each migrated with its own {{ schema }} into the template (default: [tool.sqlmig.targets] "
        "schemas, unless a schema is set)",
        type="linelist",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``sqlmig`` marker, so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "sqlmig(seeds=None, schema=None, vars=None, schemas=None): the test's sqlmig_db/sqlmig_url come from a "
        "template built with these options instead of the ini's; schemas=[...] migrates each of these schemas",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """Say which templates were built or reused and on which server; nothing if no fixture was used."""
    cache = config.stash.get(_CACHE, None)
    if cache is None or cache.clones is None:
        return
    for t in cache.templates:
        seeds = ", with seeds" if t.seeds else ""
        schemas = f", in {_count(len(t.schemas), 'schema')}" if t.schemas else ""
        done = f"built in {t.seconds:.2f}s" if t.built else "reused"
        files = _count(len(t.migrations), "file")
        terminalreporter.write_line(f"sqlmig: template {t.name} ({files}{seeds}{schemas}) {done}")
    terminalreporter.write_line(f"sqlmig: {_count(cache.clones, 'test database')} cloned on {cache.where}")


@pytest.fixture(scope="session")
def sqlmig_templates(pytestconfig: pytest.Config) -> Iterator[TemplateCache]:
    """The session's templates: ``get(seeds=…, schema=…, vars=…, schemas=…)`` builds (or reuses) one per set of
    options.

    At the end of the session it releases its locks and stops the embedded PostgreSQL if it started one.
    Templates stay on the server for the next session; a session that builds a new one drops the project's
    templates that no session is using."""
    from ..config import redact
    from .templates import TemplateCache

    url, source = _server_url(pytestconfig)
    with contextlib.ExitStack() as stack:
        if url is None:
            with _reported():
                url, where = stack.enter_context(_embedded_server())
        else:
            where = f"{redact(url, url)} (from {source})"
        with _reported():
            cache = TemplateCache(
                url=url,
                where=where,
                rootdir=pytestconfig.rootpath,
                directory=pytestconfig.getoption("sqlmig_directory") or pytestconfig.getini("sqlmig_directory") or None,
                seeds=bool(pytestconfig.getini("sqlmig_seeds")),
                schema=pytestconfig.getini("sqlmig_schema") or None,
                vars=_vars(pytestconfig.getini("sqlmig_vars")),
                schemas=pytestconfig.getini("sqlmig_schemas"),
            )
        stack.callback(cache.close)
        pytestconfig.stash[_CACHE] = cache
        yield cache
        with _reported():
            stack.close()


@pytest.fixture(scope="session")
def sqlmig_template(sqlmig_templates: TemplateCache) -> Template:
    """The template with the ini's options, built once per session: its ``clone()`` yields the URL of a new
    database (dropped afterwards), for a test that needs more than one."""
    with _reported():
        return sqlmig_templates.get()


@pytest.fixture
def sqlmig_url(request: pytest.FixtureRequest, sqlmig_templates: TemplateCache) -> Iterator[str]:
    """The URL of a new database holding the migrations, the test's own; dropped after the test (open
    connections are ended). ``@pytest.mark.sqlmig(…)`` picks another template."""
    with contextlib.ExitStack() as stack:
        with _reported():
            template = sqlmig_templates.get(**_marker_options(request.node))
            url = stack.enter_context(template.clone())
        yield url
        with _reported():
            stack.close()


@pytest.fixture
def sqlmig_db(sqlmig_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """An open psycopg connection to the test's database (that of ``sqlmig_url``), in autocommit: what a test
    writes is visible at once to the application's connections. Use ``with sqlmig_db.transaction():`` for a
    transaction."""
    import psycopg

    with psycopg.connect(sqlmig_url, autocommit=True) as conn:
        yield conn


def _server_url(config: pytest.Config) -> tuple[str | None, str]:
    given = config.getoption("sqlmig_url")
    if given:
        return str(given), "--sqlmig-url"
    ini = config.getini("sqlmig_url")
    if ini:
        return str(ini), f"sqlmig_url in {config.inipath.name if config.inipath else 'the ini file'}"
    env = os.environ.get(URL_ENV)
    return (env, URL_ENV) if env else (None, "")


@contextlib.contextmanager
def _embedded_server() -> Iterator[tuple[str, str]]:
    """Start the embedded PostgreSQL (PostgreSQL 18) in a new temporary folder; stop it and delete the folder on
    exit."""
    from .. import devdb

    _sweep_embedded()
    base = Path(tempfile.mkdtemp(prefix=EMBEDDED_PREFIX))
    try:
        (base / _OWNER_FILE).write_text(str(os.getpid()))
        server, _ = devdb.start(base)
        yield server.url, f"a throwaway embedded PostgreSQL {server.version} (no --sqlmig-url, sqlmig_url or {URL_ENV})"
    finally:
        _stop_embedded(base)


def _stop_embedded(base: Path) -> None:
    from .. import devdb

    try:
        devdb.stop(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _sweep_embedded() -> None:
    """Stop the embedded servers of sessions that were killed before they could: those outlive their process."""
    for marker in Path(tempfile.gettempdir()).glob(f"{EMBEDDED_PREFIX}*/{_OWNER_FILE}"):
        try:
            os.kill(int(marker.read_text()), 0)
        except ProcessLookupError:
            with contextlib.suppress(SqlmigError):
                _stop_embedded(marker.parent)
        except (OSError, ValueError):
            pass  # another user's live session, or a marker being written: not ours to stop


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _vars(lines: list[str]) -> dict[str, str]:
    result = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"sqlmig_vars expects NAME=VALUE lines with NAME a valid identifier, got {line!r}")
        result[name.strip()] = value.strip()
    return result


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    marker = node.get_closest_marker("sqlmig")
    if marker is None:
        return {}
    unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
    if marker.args or unknown:
        raise ConfigError(f"@pytest.mark.sqlmig takes only {', '.join(o + '=' for o in MARKER_OPTIONS)}; got {marker}")
    return dict(marker.kwargs)


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """Fail with sqlmig's own message (file, line, server's error) instead of a traceback through the plugin."""
    try:
        yield
    except SqlmigError as exc:
        # from None: pytest would show the sqlmig error a second time, as the context of this one
        raise pytest.fail.Exception(f"sqlmig: {exc}", pytrace=False) from None
