"""verify: on a scratch database, check that every down undoes its up and that every up can run again after it.

Each migration is applied one by one, as ``migrate up`` runs it, with a catalog snapshot (:mod:`sqlmig.verify.catalog`)
before and after it; then, newest first, its down, its up and its down again, each compared with those. Only what
the migration changed counts (the keys its up or down touched), and a difference that is no more than what a
newer migration's down left behind is left out (:mod:`sqlmig.verify.leftovers`): a leftover is reported once, at
the migration whose down left it, not again at every older one."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import conninfo, sql

from .. import config
from ..errors import DatabaseError, MigrationError
from ..files import discover_tracks
from ..model import Direction, MigrationFile, Plan, Step, TableName, Track
from ..run import execute, history, runner
from ..run.connection import connect
from ..run.contention import Limits
from ..run.lock import lock_key
from . import catalog, leftovers
from .leftovers import changed

log = logging.getLogger("sqlmig")
ProblemKind = Literal["down-differs", "redo-differs", "not-idempotent", "no-down", "failed"]
Snapshot = dict[str, str]
_DIRECTIONS: tuple[Direction, ...] = ("up", "down")


@dataclass(frozen=True)
class VerifyProblem:
    """One finding: ``down-differs`` (the down does not restore the catalog of before the up), ``redo-differs``
    (the up run again after the down gives another catalog), ``not-idempotent`` (a second run of the up fails or
    changes the catalog), ``no-down`` or ``failed`` (``message`` has the line and the server's message); when one
    leaves the state unknown, older migrations are not checked. ``path`` is the file concerned; ``diff`` holds
    lines of :func:`sqlmig.verify.catalog.diff` from the expected catalog: ``+`` is there but should not be, ``-``
    is missing."""

    kind: ProblemKind
    name: str
    track: Track
    path: Path | None
    message: str
    diff: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found. ``checked`` names the migrations whose down and second up were checked, in
    version order (seeds after migrations); ``problems`` lists the findings in the order they were found."""

    checked: tuple[str, ...]
    problems: tuple[VerifyProblem, ...]

    @property
    def ok(self) -> bool:
        """True when there is nothing to report."""
        return not self.problems


def verify(
    database: str | None = None,
    directory: Path | str | None = None,
    *,
    schema: str | None = None,
    vars: Mapping[str, Any] | None = None,
    seeds: bool = False,
    idempotent: bool | None = None,
    history_table: str | None = None,
) -> VerifyReport:
    """Apply every migration (with ``seeds``, then every seed) to a new scratch database; then, newest first, check
    that each down restores the catalog of before its up and that its up run again gives the catalog of its first
    run. With ``idempotent``, each up also runs twice in a row (the second time in a transaction rolled back
    afterwards, unless ``no-transaction``) and must neither fail nor change the catalog; None takes
    ``idempotent`` from ``[tool.sqlmig]`` (a project that follows the rule "make migrations idempotent" sets it).

    ``database`` is the URL of a server where sqlmig may create and drop a database (None: resolved as
    :func:`sqlmig.apply` does); the database it names is only connected to. Writes only the scratch database
    ``sqlmig_verify_<hex>``, dropped at the end, also after an error or an interrupt. Problems in migrations are
    findings in the report. Raises :class:`~sqlmig.ConfigError` (no URL), :class:`~sqlmig.ConnectError`,
    :class:`~sqlmig.DatabaseError` when the scratch database cannot be created (the role needs CREATEDB), and,
    before anything runs, :class:`~sqlmig.DiscoveryError` or :class:`~sqlmig.RenderError` for bad files."""
    settings = config.load(
        database_url=database,
        directory=directory,
        schema=schema,
        vars=vars,
        history_table=history_table,
        idempotent=idempotent,
    )
    return verify_settings(settings, seeds=seeds)


def verify_settings(settings: config.Settings, *, seeds: bool = False) -> VerifyReport:
    """:func:`verify` with settings already resolved (``settings.database_url`` names the server). Writes only
    the scratch database; raises what :func:`verify` raises."""
    tracks: tuple[Track, ...] = ("migrate", "seed") if seeds else ("migrate",)
    found = discover_tracks(settings.directory, tracks)
    files = [f for track in tracks for f in found[track]]
    # Every file is rendered and split first: a template error stops verify before the scratch database exists.
    prepared = {
        (t, d): runner.prepare(Plan(t, d, tuple(Step(f, d) for f in found[t] if d == "up" or f.down)), settings)
        for t in tracks
        for d in _DIRECTIONS
    }
    with scratch_database(settings) as url:
        scratch = dataclasses.replace(settings, database_url=url, url_source="the scratch database")
        with connect(None, scratch) as conn:
            run = _Run(conn, scratch, TableName.parse(settings.history_table), prepared)
            # Nobody else uses the scratch database, but every migration checks that its run holds the lock.
            conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(run.table),))
            history.ensure(conn, run.table, history.read(conn, run.table).state)
            applied = run.apply_all(files, settings.idempotent)
            if applied is not None:
                run.walk_back(applied)
    return VerifyReport(tuple(reversed(run.checked)), tuple(run.problems))


@dataclass
class _Run:
    conn: psycopg.Connection[Any]
    settings: config.Settings
    table: TableName
    prepared: dict[tuple[Track, Direction], runner.Prepared]
    states: dict[tuple[Track, str], tuple[Snapshot, Snapshot]] = field(default_factory=dict)  # before, after up
    checked: list[str] = field(default_factory=list)
    problems: list[VerifyProblem] = field(default_factory=list)

    def snap(self) -> Snapshot:
        # Row counts too: a seed's down that leaves its rows behind changes no catalog entry.
        return catalog.snapshot(self.conn, (str(self.table),), rows=True)

    def step(self, f: MigrationFile, direction: Direction) -> MigrationError | None:
        plan = Plan(f.track, direction, (Step(f, direction),))
        try:
            runner.run_plan(self.conn, plan, self.prepared[f.track, direction], self.settings, single_transaction=False)
        except MigrationError as exc:
            return exc
        return None

    def report(self, kind: ProblemKind, f: MigrationFile, path: Path | None, message: str, *lines: str) -> None:
        self.problems.append(VerifyProblem(kind, f.name, f.track, path, message, lines))

    def fail(self, f: MigrationFile, exc: MigrationError, what: str) -> None:
        self.report("failed", f, exc.path, f"{what} failed: {_server_error(exc)}")

    def apply_all(self, files: list[MigrationFile], idempotent: bool) -> list[MigrationFile] | None:
        """Apply ``files`` one by one: those applied, or None when the state is unknown (a no-transaction file
        stopped part-way, or its second run changed the catalog)."""
        applied: list[MigrationFile] = []
        state = self.snap()
        for f in files:
            if (error := self.step(f, "up")) is not None:
                self.fail(f, error, "its up")
                return applied if error.rolled_back else None
            self.states[f.track, f.name] = (state, after := self.snap())
            state = after
            applied.append(f)
            if idempotent and not self.run_again(f, state):
                return None
        return applied

    def run_again(self, f: MigrationFile, expected: Snapshot) -> bool:
        """Run ``f``'s up a second time; report it if that fails or changes the catalog. Returns False when the
        change stays (a no-transaction file), so that the state is no longer the one its first run left."""
        migration, items = self.prepared[f.track, "up"][f.name]
        s, version = self.settings, self.conn.info.server_version
        limits = Limits(s.lock_timeout, s.statement_timeout, s.lock_retries, s.role, check_connection=version >= 140000)
        # Its history row goes first, so that the run writes it again as a first run does.
        unrecord = (history.unrecord_query(self.table), (f.name, f.track))
        error, state, transactional = None, expected, migration.source.transactional
        try:
            if transactional:
                self.conn.execute("BEGIN")
            self.conn.execute(*unrecord)
            execute.run_step(self.conn, migration, items, self.table, limits=limits, own_transaction=False)
            state = self.snap()
        except MigrationError as exc:
            error = exc
        finally:
            if transactional and not self.conn.broken:
                self.conn.execute("ROLLBACK")
        if not transactional:
            with self.conn.transaction():  # whether it failed or not, its row is the one of its first run
                self.conn.execute(*unrecord)
                params = history.record_params(f, migration.rendered_checksum, 0)
                self.conn.execute(history.record_query(self.table), params)
            state = self.snap()
        lines = catalog.diff(expected, state)
        stays = bool(lines) and not transactional
        more = "; it runs outside a transaction, so the change stays and verify stopped here" if stays else ""
        if error is not None:
            self.report("not-idempotent", f, error.path, f"its up fails when run twice: {_server_error(error)}{more}")
        elif lines:
            self.report("not-idempotent", f, f.up.path, f"its up changes the catalog when run twice{more}", *lines)
        return not stays

    def walk_back(self, applied: list[MigrationFile]) -> None:
        """Newest first: down, compare with the state before the up; up again, compare with the state after the
        first up; down again. Stops at a missing down file and at a failure that leaves the state unknown."""
        for f in reversed(applied):
            if f.down is None:
                self.report("no-down", f, None, f"it has no {f.name}.down.sql: the ones before it were not checked")
                return
            before, after = self.states[f.track, f.name]
            top = self.snap()
            # What newer downs left behind (they were reported there) is not reported again here.
            left = leftovers.found(after, top)
            if (error := self.step(f, "down")) is not None:
                self.fail(f, error, "its down")
                return
            undone = self.snap()
            lines = leftovers.compare(before, undone, changed(before, after) | changed(top, undone), left)
            error = self.step(f, "up")
            if lines:  # an up failing again is then most often what the down left behind: one finding, not two
                also = f"; its up then fails when run again: {_server_error(error)}" if error else ""
                message = f"its down does not restore the catalog as it was before its up{also}"
                self.report("down-differs", f, f.down.path, message, *lines)
            elif error is not None:
                self.fail(f, error, "its up, run again after its down,")
            if error is None:
                redone = self.snap()
                lines = leftovers.compare(after, redone, changed(before, after) | changed(undone, redone), left)
                if lines:
                    self.report("redo-differs", f, f.up.path, "its up run again gives another catalog", *lines)
                if (error := self.step(f, "down")) is not None:
                    self.fail(f, error, "its down, run a second time,")
                    return
            elif not error.rolled_back:
                return  # part of it stays applied: the state is unknown
            # Else it was rolled back, leaving the state its down made: the older ones can still be checked.
            self.checked.append(f.name)


def _server_error(exc: MigrationError) -> str:
    where = f"line {exc.line}: " if exc.line else ""
    state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
    extra = "".join(f"; {label}: {text}" for label, text in (("detail", exc.detail), ("hint", exc.hint)) if text)
    return " ".join(f"{where}{exc.message}{state}{extra}".split())  # one line: a detail may hold several


@contextmanager
def scratch_database(settings: config.Settings, *, purpose: str = "verify") -> Iterator[str]:
    """Create a scratch database named ``sqlmig_<purpose>_<random hex>`` on the server of ``settings`` (as its
    role, owned by the migrations' role when one is set), yield its URL, and drop it on the way out, also after an
    error or an interrupt (FORCE: a connection may be left). Raises :class:`~sqlmig.DatabaseError` when it cannot
    be created (the role needs CREATEDB)."""
    name = f"sqlmig_{purpose}_{secrets.token_hex(6)}"
    ident = sql.Identifier(name)
    url = settings.database_url or ""
    with connect(None, settings) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
        except psycopg.Error as exc:
            where, reason = config.redact(url, url), config.redact(str(exc).strip(), url)
            hint = f"{purpose} needs a role with CREATEDB: pass the URL of a server where it has it (a local one)"
            raise DatabaseError(f"cannot create a scratch database on {where}: {reason}. {hint}") from exc
        try:
            if settings.role:  # the migrations run as this role: as in a real database, let it own the database
                admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, sql.Identifier(settings.role)))
            yield conninfo.make_conninfo(url, dbname=name)
        except BaseException:
            _drop(admin, url, name, quiet=True)
            raise
        _drop(admin, url, name, quiet=False)


def _drop(admin: psycopg.Connection[Any], url: str, name: str, *, quiet: bool) -> None:
    try:
        with admin if not (admin.closed or admin.broken) else psycopg.connect(url, autocommit=True) as conn:
            if conn.info.server_version < 130000:  # no WITH (FORCE) before PostgreSQL 13
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            force = sql.SQL(" WITH (FORCE)" if conn.info.server_version >= 130000 else "")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)
    except psycopg.Error as exc:
        message = f"could not drop the scratch database {name}: {config.redact(str(exc).strip(), url)}; drop it by hand"
        if quiet:  # an error is already on its way out: do not hide it behind this one
            log.error("%s", message)
            return
        raise DatabaseError(message) from exc
