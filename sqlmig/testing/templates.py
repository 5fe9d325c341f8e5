"""Template databases for :mod:`sqlmig.testing`: the migrations applied once per session, cloned per test.

A template is named ``sqlmig_tpl_<project>_<content>``: hashes of the migrations folder's path and of all that
decides its contents (the files' checksums, tracks, ``schema`` or the tenant schemas of a multi-tenant template,
``vars``, allowed environment variables, history table, role, sqlmig's version). An earlier session's template
is reused only if all of these are identical.

Sessions and pytest-xdist workers share a server safely through two advisory locks per template name, held on
the session's admin connection: *build* (exclusive, while a session checks for the template and builds it) and
*use* (shared, for as long as a session clones from it). A template is built under a temporary name and renamed
when complete, so a killed build never leaves a half-built template under the real name. After building a new
template, a session drops the project's other templates that no session is using: the migrations changed, so
they are stale. Templates refuse connections (``ALLOW_CONNECTIONS false``), because ``CREATE DATABASE …
TEMPLATE`` fails while anyone is connected to the template.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from psycopg import sql

from .. import config
from ..errors import ConfigError, SqlmigError
from ..files import discover_tracks
from ..migrator import Migrator
from ..model import Track
from ..version import __version__
from .server import CLONE_PREFIX, Server
from .tenants import chosen_schemas, configured_schemas, fan_out, schema_names

TEMPLATE_PREFIX = "sqlmig_tpl_"


@dataclass(frozen=True)
class Template:
    """A template database holding the project's migrations (and seeds if ``seeds``), ready to clone.

    ``migrations`` names what it holds, migrations then seeds; ``schemas`` the tenant schemas a fan-out
    migrated (each with its history in the targets' table), ``()`` for a template of one schema; ``built`` is
    False when an identical template from an earlier session (or another worker) was reused, and ``seconds`` is
    the time spent getting it.
    """

    name: str
    seeds: bool
    migrations: tuple[str, ...]
    schemas: tuple[str, ...]
    built: bool
    seconds: float
    _server: Server = field(repr=False, compare=False)

    @contextlib.contextmanager
    def clone(self) -> Iterator[str]:
        """Create a new database from this template and yield its URL; drop it on exit, even with connections
        still open. Writes. Raises :class:`~sqlmig.DatabaseError` when the server refuses."""
        name = f"{CLONE_PREFIX}{self._server.session}_{uuid.uuid4().hex[:8]}"
        self._server.run(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.name))
        )
        self._server.clones += 1
        try:
            yield self._server.url_of(name)
        finally:
            self._server.drop(name)


class TemplateCache:
    """The templates of one test session: each distinct set of options is built (or found) once, on first use.

    ``url`` is the server to use (its database is only connected to, never changed), ``where`` how messages name
    it (without a password). ``directory``, ``schema`` and ``vars`` override ``[tool.sqlmig]`` in ``rootdir``'s
    ``pyproject.toml``, which is read as the CLI reads it. ``schemas`` (the ini's ``sqlmig_schemas``, ``()`` when
    unset) makes the session's templates multi-tenant, as ``[tool.sqlmig.targets]`` does when neither it nor a
    ``schema`` is given. Raises :class:`ConfigError` for bad ``schemas``, or both ``schemas`` and ``schema``.
    """

    def __init__(
        self,
        *,
        url: str,
        where: str,
        rootdir: Path,
        directory: str | None,
        seeds: bool,
        schema: str | None,
        vars: Mapping[str, str],
        schemas: Sequence[str] = (),
    ) -> None:
        self.url, self.where, self.rootdir = url, where, rootdir
        self.directory, self.seeds, self.schema, self.vars = directory, seeds, schema, dict(vars)
        self.schemas = schema_names(list(schemas), "sqlmig_schemas") or None  # None: [tool.sqlmig.targets] decides
        if self.schemas and schema is not None:
            raise ConfigError("set sqlmig_schema (one schema) or sqlmig_schemas (several), not both")
        self._server: Server | SqlmigError | None = None
        self._found: dict[str, Template | SqlmigError] = {}
        self._held: set[str] = set()

    def get(
        self,
        *,
        seeds: bool | None = None,
        schema: str | None = None,
        vars: Mapping[str, Any] | None = None,
        schemas: Sequence[str] | str | None = None,
    ) -> Template:
        """The template for these options (None: the session's), built if no identical one exists. Writes.

        With ``schemas`` (a list of names), a multi-tenant template: every schema migrated by a fan-out, with its
        own ``schema``; an empty list, or a ``schema``, asks for a template of one schema instead. Raises the
        sqlmig error that stopped the build (e.g. :class:`~sqlmig.MigrationError` naming the file and line, or
        :class:`~sqlmig.testing.tenants.TenantsFailed` naming the schema too); it is kept, so later calls fail at
        once instead of applying the migrations again.
        """
        spec = (
            self.seeds if seeds is None else seeds,
            self.schema if schema is None else schema,
            {**self.vars, **(vars or {})},
            chosen_schemas(marked=schemas, schema=schema, session=self.schemas),
        )
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in self._found:
            try:
                self._found[key] = self._build(*spec)
            except SqlmigError as exc:
                self._found[key] = exc
        found = self._found[key]
        if isinstance(found, SqlmigError):
            raise found
        return found

    @property
    def templates(self) -> list[Template]:
        """The templates this session got, in the order first asked for."""
        return [t for t in self._found.values() if isinstance(t, Template)]

    @property
    def clones(self) -> int | None:
        """How many test databases this session made; None if it never reached the server."""
        return self._server.clones if isinstance(self._server, Server) else None

    def close(self) -> None:
        """Close the admin connection, releasing this session's locks: the templates stay for the next session."""
        if isinstance(self._server, Server):
            self._server.close()

    def _connect(self) -> Server:
        if self._server is None:
            try:
                self._server = Server(self.url, self.where)
            except SqlmigError as exc:
                self._server = exc
        if isinstance(self._server, SqlmigError):
            raise self._server
        return self._server

    def _build(self, seeds: bool, schema: str | None, vars: dict[str, Any], chosen: tuple[str, ...] | None) -> Template:
        started = time.monotonic()
        settings = config.load(cwd=self.rootdir, directory=self.directory, schema=schema, vars=vars)
        schemas = configured_schemas(settings) if chosen is None else chosen
        tracks: tuple[Track, ...] = ("migrate", "seed") if seeds else ("migrate",)
        if not settings.directory.is_dir():
            raise ConfigError(
                f"no migrations folder {settings.directory}: set sqlmig_directory in the ini file, --sqlmig-directory"
                " or directory in [tool.sqlmig] (relative to the rootdir)"
            )
        files = discover_tracks(settings.directory, tracks)
        names = tuple(f.name for t in tracks for f in files[t])
        name = _template_name(settings, [[f.track, f.name, f.up.checksum] for t in tracks for f in files[t]], schemas)
        server = self._connect()
        server.lock("build", name)
        try:
            built = name not in server.names(name)
            if built:
                self._apply(server, name, tracks, settings, schemas)
            server.lock("use", name, shared=True)
            self._held.add(name)
        finally:
            server.unlock("build", name)
        if built:
            self._prune(server, name)
        return Template(name, seeds, names, schemas, built, time.monotonic() - started, server)

    def _apply(
        self, server: Server, name: str, tracks: tuple[Track, ...], settings: config.Settings, schemas: Sequence[str]
    ) -> None:
        """Build template ``name`` under a temporary name, then rename it: the rename is what marks it complete.
        With ``schemas``, by a fan-out over them; else by one run of each track."""
        server.drop_all(name)  # what a build that died left; no one else builds this name while we hold its lock
        building = f"{name}_b{uuid.uuid4().hex[:8]}"
        ident = sql.Identifier(building)
        server.run(sql.SQL("CREATE DATABASE {}").format(ident))
        try:
            # The settings were resolved from the rootdir's .env and [tool.sqlmig], as the CLI there would.
            if schemas:
                fan_out(settings, server.url_of(building), schemas, tracks)
            else:
                migrator = Migrator(replace(settings, database_url=server.url_of(building)))
                for track in tracks:
                    migrator.up(track)
            server.run(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(ident))
            server.run(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident, sql.Identifier(name)))
        except BaseException:
            with contextlib.suppress(SqlmigError):
                server.drop(building)
            raise

    def _prune(self, server: Server, current: str) -> None:
        """Drop this project's other templates that no session uses: a new template means they are stale."""
        prefix = current[: current.rindex("_") + 1]
        for name in sorted({n[: len(current)] for n in server.names(prefix)} - self._held - {current}):
            if server.lock("build", name, wait=False):
                if server.lock("use", name, wait=False):
                    server.drop_all(name)
                    server.unlock("use", name)
                server.unlock("build", name)


def template_prefix(directory: Path) -> str:
    """The name prefix of every template built from the migrations in ``directory``."""
    return f"{TEMPLATE_PREFIX}{hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:8]}_"


def _template_name(settings: config.Settings, files: list[list[str]], schemas: Sequence[str]) -> str:
    content: dict[str, Any] = {
        "sqlmig": __version__,
        "files": files,
        "schema": settings.schema,
        "vars": settings.vars,
        "env": settings.env,
        "history_table": settings.history_table,
        "role": settings.role,
    }
    if schemas:  # only then: the templates of one schema keep the names they had before multi-tenant ones
        content["schemas"] = list(schemas)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return template_prefix(settings.directory) + digest[:16]
