"""The Migrator: settings resolved once, and one guarded section that every writer goes through.

Every writer (up, down, accept, baseline) follows the same protocol, the one that makes each migration run exactly
once however many instances start together: read the history without the lock and plan; if there is work, check
for a transaction-mode pooler, take the migration lock (a waiter that finds the work done by the holder returns
without it), read the history again under the lock and plan again from it. :meth:`Migrator.guarded` is that
protocol, written once.

The common case, nothing pending, is one history query and no lock. With work pending, every file still pending
is rendered and split before any SQL runs, so a template or file error changes nothing; runs that waited for the
lock and find the work done never load the parser or Jinja2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config
from .errors import ConfigError, LintError, PlanError
from .files import discover_tracks
from .model import TRACKS, Applied, Conn, Direction, MigrationFile, Plan, Report, StatusReport, TableName, Track
from .plan import DownTarget, ahead_text, history_options, make_down_plan, make_status, up_plan
from .run import history
from .run.connection import Database, connect, url_of
from .run.history import History

if TYPE_CHECKING:
    from .explain import ExplainReport
    from .preview import PreviewStep
    from .run.runner import PrepareCache
    from .verify import VerifyReport

log = logging.getLogger("sqlmig")


@dataclass(frozen=True)
class Migrator:
    """Runs migrations with one resolved :class:`~sqlmig.config.Settings`: build it once (``Migrator(settings)``
    or :meth:`from_config`) and call its methods as often as needed; it holds no connection between calls.

    ``database`` is an open psycopg connection to use instead of ``settings.database_url`` (left open; it must
    not be inside a transaction), or None.
    """

    settings: config.Settings
    database: Database = None
    # Files already discovered (every track), so that many Migrators of one fan-out read and hash them once, and
    # the files without template syntax rendered and split once for all of them.
    files: Mapping[Track, Sequence[MigrationFile]] | None = field(default=None, compare=False)
    cache: PrepareCache | None = field(default=None, compare=False)

    @classmethod
    def from_config(
        cls,
        database: Database = None,
        directory: str | Path | None = None,
        *,
        overrides: config.Overrides | None = None,
        cwd: Path | None = None,
        caller: Path | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Migrator:
        """A Migrator with settings resolved as the CLI resolves them: ``overrides``, or ``options`` (the other
        keyword arguments of :func:`sqlmig.config.load`), win over the environment, ``.env`` and ``[tool.sqlmig]``;
        ``database`` (when a URL) and ``directory`` win over both. ``database`` is a URL, an open connection, or
        None to take the URL from the overrides or the environment. Reads files; raises
        :class:`~sqlmig.ConfigError` for an invalid configuration, and ``TypeError`` for an unknown option or for
        ``overrides`` given together with ``options``."""
        if overrides is not None and options:
            raise TypeError(f"pass overrides or keyword options, not both: {', '.join(sorted(options))}")
        given = overrides if overrides is not None else config.Overrides(**options)
        if isinstance(database, str):
            given = replace(given, database_url=database)
        if directory is not None:
            given = replace(given, directory=directory)
        return cls(config.resolve(given, cwd=cwd, caller=caller, environ=environ), database)

    @property
    def table(self) -> TableName:
        """The history table."""
        return self.settings.history

    def _selected_by(self) -> str:
        """The options that select this run's history on the command line, for the commands its errors advise: a
        fan-out target's (see :func:`~sqlmig.plan.history_options`), "" for an ordinary run."""
        s = self.settings
        # A database target of a fan-out is an ordinary run on its own database; the fan-out names its URL's source.
        database = s.database_url if s.url_source == "--databases-from" else None
        return history_options(schema=s.target, database=database)

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """An autocommit connection for one call: the given one, or a new one closed afterwards."""
        with connect(self.database, self.settings) as conn:
            yield conn

    @contextmanager
    def guarded(self, conn: Conn, needed: Callable[[Sequence[Applied]], bool]) -> Iterator[History | None]:
        """The guarded section of every writer. Checks for a transaction-mode pooler, takes the migration lock
        and reads the history again under it; yields that history, or None without the lock when the work is no
        longer ``needed`` (another run did it while this one waited, as ``needed`` judges from the history rows).
        Raises :class:`~sqlmig.PoolerError` and :class:`~sqlmig.LockTimeout`; the lock is released on exit."""
        from .run import lock, pooler  # loaded only when the lock is needed: the no-op path skips them

        pooler.check(conn, url_of(self.database, self.settings))
        table = self.table

        def still_needed() -> bool:  # a waiter asks this, without the lock, once the holder is done
            return needed(history.read(conn, table).rows)

        with lock.hold(conn, table, self.settings.lock_wait, recheck=still_needed) as held:
            if not held:
                yield None
                return
            fresh = history.read(conn, table)
            yield fresh if needed(fresh.rows) else None

    def up(self, track: Track = "migrate", *, single_transaction: bool = False, to: str | None = None) -> Report:
        """Apply the pending migrations of ``track``, oldest first; with ``to``, only those up to that version.
        See :func:`sqlmig.apply`, whose errors it raises. Writes."""
        tracks: tuple[Track, ...] = ("migrate",) if checked_track(track) == "migrate" else ("migrate", "seed")
        files, selected_by = self._files(tracks), self._selected_by()
        warned: dict[str, None] = {}  # rows a newer release applied, each warned about once however often planned

        def planned(rows: Sequence[Applied]) -> Plan:
            found = up_plan(files, rows, track, self.settings.allow_out_of_order, to=to, selected_by=selected_by)
            if fresh := [r for r in found.ahead if r.name not in warned]:
                log.warning(ahead_text(fresh))
                warned.update(dict.fromkeys(r.name for r in fresh))
            return found

        with self.connection() as conn:
            plan = planned(history.read(conn, self.table).rows)
            if not plan.steps:
                return Report(track, "up", (), tuple(warned))
            if self.settings.lint:
                self._lint(plan)
            with self.guarded(conn, lambda rows: bool(planned(rows).steps)) as hist:
                if hist is None:
                    return Report(track, "up", (), tuple(warned))
                plan = planned(hist.rows)
                from .run import runner  # the parser and Jinja2 load only when there is work

                prepared = runner.prepare(plan, self.settings, self.cache)
                if single_transaction:
                    runner.check_single_transaction(prepared)
                history.ensure(conn, self.table, hist.state)
                empty = not any(r.track == track for r in hist.rows)
                report = runner.run_plan(
                    conn,
                    plan,
                    prepared,
                    self.settings,
                    single_transaction,
                    empty_history=empty,
                    selected_by=selected_by,
                )
                return replace(report, ahead=tuple(warned))

    def _files(self, tracks: tuple[Track, ...]) -> Mapping[Track, Sequence[MigrationFile]]:
        """The files of ``tracks``: those given to this Migrator, else read from its directory."""
        if self.files is not None:
            return {t: self.files[t] for t in tracks}
        return discover_tracks(self.settings.directory, tracks)

    def down(
        self, track: Track = "migrate", *, steps: int | None = 1, to: str | None = None, all: bool = False
    ) -> Report:
        """Roll back applied migrations of ``track``, newest first. See :func:`sqlmig.rollback`. Writes."""
        files = self._files((checked_track(track),))[track]
        target, selected_by = DownTarget(steps=steps, to=to, all=all), self._selected_by()

        def planned(rows: Sequence[Applied]) -> Plan:
            return make_down_plan(files, rows, track=track, target=target, selected_by=selected_by)

        with self.connection() as conn:
            if not planned(history.read(conn, self.table).rows).steps:
                return Report(track, "down", ())
            with self.guarded(conn, lambda rows: bool(planned(rows).steps)) as hist:
                if hist is None:
                    return Report(track, "down", ())
                plan = planned(hist.rows)
                from .run import runner  # the parser and Jinja2 load only when there is work

                prepared = runner.prepare(plan, self.settings, self.cache)
                report = runner.run_plan(conn, plan, prepared, self.settings, single_transaction=False)
                left = {r.name for r in hist.rows if r.track == "migrate"} - set(report.names)
                if track == "migrate" and not left and (seeds := [r for r in hist.rows if r.track == "seed"]):
                    # The last migration's rollback removed their rows in its own transaction.
                    log.info("forgot %d seed(s): every migration is rolled back, and their data with them", len(seeds))
                return report

    def status(self, tracks: Sequence[Track] = TRACKS) -> StatusReport:
        """The state of every migration of ``tracks``. See :func:`sqlmig.status`. Read-only; no lock."""
        files = discover_tracks(self.settings.directory, tuple(checked_track(t) for t in tracks))
        with self.connection() as conn:
            rows = history.read(conn, self.table).rows
        return StatusReport(tuple(e for t in tracks for e in make_status(files[t], rows, track=t)))

    def accept(self, track: Track = "migrate", names: Sequence[str] = ()) -> list[str]:
        """Record the current checksums of edited applied files. See :func:`sqlmig.accept`. Writes (nothing, not
        even the table, when no checksum changes)."""
        files = self._files((checked_track(track),))[track]
        unknown = sorted(set(names) - {f.name for f in files})
        if unknown:
            raise PlanError(f"no {track} migration file named {', '.join(unknown)}", unknown)

        def edited(rows: Sequence[Applied]) -> list[MigrationFile]:
            applied = {r.name: r for r in rows if r.track == track}
            chosen = [f for f in files if f.name in applied and (not names or f.name in names)]
            return [f for f in chosen if applied[f.name].checksum != f.up.checksum]

        with self.connection() as conn, self.guarded(conn, lambda rows: True) as hist:
            assert hist is not None  # always needed: never None
            changed = edited(hist.rows)
            if changed:  # a fan-out target without rows must not create the targets' table under its own lock
                history.ensure(conn, self.table, hist.state)  # a table another runner made lacks the checksum column
                history.accept(conn, self.table, changed)
        return [f.name for f in changed]

    def baseline(self, track: Track = "migrate", *, to: str) -> list[str]:
        """Record unrecorded migrations up to version ``to`` as applied without running them. See
        :func:`sqlmig.baseline`. Writes the history table only."""
        files = self._files((checked_track(track),))[track]
        if to not in {f.version for f in files}:
            raise PlanError(f"--to {to}: no {track} migration file has that version")
        with self.connection() as conn, self.guarded(conn, lambda rows: True) as hist:
            assert hist is not None  # always needed: never None
            history.ensure(conn, self.table, hist.state)
            recorded = {r.name for r in hist.rows if r.track == track}
            chosen = [f for f in files if f.version <= to and f.name not in recorded]
            history.record_baseline(conn, self.table, chosen)
        return [f.name for f in chosen]

    def dry_run(
        self,
        track: Track = "migrate",
        direction: Direction = "up",
        *,
        to: str | None = None,
        target: DownTarget | None = None,
    ) -> list[PreviewStep]:
        """What :meth:`up` (with ``to``) or :meth:`down` (with ``target``, default one step) would run now, in
        order, rendered. Reads the history without the lock; writes nothing. See :func:`sqlmig.preview.dry_run`."""
        from .preview import preview

        return preview(self.settings, self.database, track=track, direction=direction, target=target, to=to)

    def verify(self, *, seeds: bool = False) -> VerifyReport:
        """Check that each down undoes its up, on a scratch database on this Migrator's server (its ``database``
        must be a URL). Writes only the scratch database. See :func:`sqlmig.verify.verify`."""
        from .verify.scratch import verify_settings

        return verify_settings(self.settings, seeds=seeds)

    def explain(self, *, seeds: bool = False) -> ExplainReport:
        """Measure each pending migration (with ``seeds``, each pending seed after them) on a scratch database on
        this Migrator's server: per statement, the locks it took, the relations it rewrote and its time. Reads the
        history; writes only the scratch database (``settings.database_url`` must name the server). See
        :func:`sqlmig.explain.explain`."""
        from .explain.driver import explain_settings

        return explain_settings(self.settings, seeds=seeds, database=self.database)

    def _lint(self, plan: Plan) -> None:
        from .lint.driver import lint_files
        from .render import STREAM_THRESHOLD, TemplateContext

        # Linting parses every statement (about 1 s per MB of INSERTs): files large enough to be streamed, bulk
        # data seeds in practice, are left to 'sqlmig lint' rather than holding up every start-up.
        files = [step.file for step in plan.steps]
        large = [f.name for f in files if f.up.size > STREAM_THRESHOLD]
        if large:
            log.warning("not linted before applying (larger than 4 MiB; run 'sqlmig lint'): %s", ", ".join(large))
        s = self.settings
        context = TemplateContext(schema=s.schema, vars=s.vars, env=s.env)
        # The rules of lint_rules, as 'sqlmig lint' reports them; the applied files are not checked again.
        report = lint_files([f for f in files if f.name not in large], context, rules=s.lint_rules)
        if report.errors:
            raise LintError(report.errors)


def checked_track(track: str) -> Track:
    """``track`` if it is ``"migrate"`` or ``"seed"``; else raises :class:`~sqlmig.ConfigError`. Pure."""
    if track not in TRACKS:
        raise ConfigError(f"track must be one of {', '.join(TRACKS)}, got {track!r}")
    return track
