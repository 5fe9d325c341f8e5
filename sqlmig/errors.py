"""The one exception tree of sqlmig.

Every exception sqlmig raises derives from :class:`SqlmigError`, so ``except sqlmig.SqlmigError`` catches all of
them. Each leaf carries structured attributes; the command line decides which exit status each one is.
Driver errors are wrapped with ``raise ... from exc``; the original stays available as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fanout.report import TargetResult
    from .lint.driver import Finding


class SqlmigError(Exception):
    """Root of all sqlmig errors."""


class ConfigError(SqlmigError):
    """The configuration is unusable: no database URL, a malformed option, a bad ``pyproject.toml`` section."""


class ConnectError(SqlmigError):
    """The database server could not be reached or refused the connection (the URL's password is never shown)."""


class DatabaseError(SqlmigError):
    """The server refused sqlmig's own work, outside any migration's SQL: creating or writing the history table,
    taking the lock (e.g. missing privileges, a read-only standby)."""


def _located(exc: StoppedMigration | MigrationError) -> list[str]:
    """The lines of an error in a migration: where, the message and SQLSTATE, detail, hint and statement."""
    where = f"{exc.path}:{exc.line}:{exc.column}" if exc.line else str(exc.path)
    parts = [f"{where}: {exc.message}" + (f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else "")]
    parts += [f"  {label}: {text}" for label, text in (("detail", exc.detail), ("hint", exc.hint)) if text]
    stmt = exc.statement.strip()
    if stmt:
        shown = stmt if len(stmt) <= 400 else stmt[:400] + " ..."
        parts.append("  statement: " + shown.replace("\n", "\n    "))
    return parts


class StoppedMigration(SqlmigError):
    """A migration stopped by something other than its own SQL failing: the base of :class:`BookkeepingError`
    and :class:`ConnectionLostError`.

    The attributes are those of :class:`MigrationError` (``path``, ``name``, ``line`` and ``column``, 0 when no
    statement of the file is concerned, ``statement``, the server's ``sqlstate``, ``message``, ``detail`` and
    ``hint``, and ``applied``), plus ``outcome``: what became of the migration (what was rolled back, what stays
    applied, what is recorded).
    """

    def __init__(
        self,
        *,
        path: Path,
        name: str,
        message: str,
        outcome: str,
        line: int = 0,
        column: int = 0,
        statement: str = "",
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
        applied: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.name = name
        self.message = message
        self.outcome = outcome
        self.line = line
        self.column = column
        self.statement = statement
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        self.applied = applied
        super().__init__(self._text())

    def _text(self) -> str:
        parts = _located(self)
        parts.append(f"  {self.outcome}")
        if self.applied:
            parts.append(f"  applied before the failure in this run: {', '.join(self.applied)}")
        return "\n".join(parts)


class BookkeepingError(StoppedMigration, DatabaseError):
    """sqlmig's own work around a migration failed, not the migration's SQL: writing its history row or its
    progress, resetting the session after it, or holding the migration lock (a migration that released it).
    ``outcome`` says what was rolled back and what is recorded."""


class ConnectionLostError(StoppedMigration, ConnectError):
    """The connection to the server was lost while a migration ran (the server restarted, the session was
    terminated, the network failed). ``outcome`` says what the server rolled back, what stays applied, and what
    the next run does."""


class PoolerError(ConfigError):
    """The connection goes through a transaction-mode pooler (PgBouncer, Supavisor), where the session-level
    migration lock cannot work; the message says which URL to set instead. Nothing has been executed."""


@dataclass(frozen=True)
class FileProblem:
    """One offending file: its path, the line the problem is on (0 when it concerns the whole file), and why."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class DiscoveryError(SqlmigError):
    """Migration files are malformed: bad names, duplicate versions, orphan down files, unknown directives.

    ``problems`` lists every offending file, not just the first one found.
    """

    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with migration files:\n{lines}")


class RenderError(SqlmigError):
    """A template could not be rendered (syntax error, undefined variable); nothing has been executed."""

    def __init__(self, path: Path, line: int, message: str, hint: str = "") -> None:
        self.path = path
        self.line = line
        self.message = message
        self.hint = hint
        text = f"{path}:{line}: template error: {message}"
        super().__init__(f"{text}\n  hint: {hint}" if hint else text)


class PlanError(SqlmigError):
    """The history and the files disagree in a way that needs a decision; nothing has been executed.

    ``names`` lists the migrations concerned. Subclasses say which disagreement it is.
    """

    def __init__(self, message: str, names: list[str] | tuple[str, ...] = ()) -> None:
        self.names = tuple(names)
        super().__init__(message)


class DriftError(PlanError):
    """Applied migration files were edited after they ran (their raw checksum changed)."""


class OutOfOrderError(PlanError):
    """Pending migrations are older than the newest applied one."""


class MissingFileError(PlanError):
    """History rows name migrations whose files are gone."""


class MissingDownError(PlanError):
    """A rollback needs ``.down.sql`` files that do not exist."""


class PendingMigrationsError(PlanError):
    """Seeds were asked for while schema migrations are still pending."""


class HistoryTableError(PlanError):
    """The history table was changed by hand (a column dropped or retyped, rows duplicated) so that sqlmig cannot
    trust it; the message says what is wrong and how to repair it. Nothing has been executed."""


class LintError(SqlmigError):
    """Pending migrations break lint rules of error severity (``up --lint``, or ``lint = true`` in
    ``[tool.sqlmig]``). ``findings`` lists them (:class:`sqlmig.lint.Finding`). Nothing has been executed."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        lines = [f"  {f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in self.findings]
        super().__init__(
            "\n".join(
                [
                    f"{len(self.findings)} lint error(s) in the pending migrations; nothing was applied:",
                    *lines,
                    "Fix them (sqlmig lint shows the hints), or silence a rule for one statement with a comment "
                    "'-- sqlmig-lint: ignore CODE' above it.",
                ]
            )
        )


class LockTimeout(SqlmigError):
    """Another process held the migration lock for longer than the configured wait.

    ``holder`` describes that process (pid, application name, client address, state, age) when it could be read.
    """

    def __init__(self, waited: float, holder: str | None) -> None:
        self.waited = waited
        self.holder = holder
        who = holder or "an unknown session"
        super().__init__(
            f"could not take the migration lock within {waited:.0f}s: it is held by {who}. "
            "Wait for that run to finish, or raise the wait with --lock-wait SECONDS."
        )


class MigrationError(SqlmigError):
    """A migration's SQL failed on the server; that migration was rolled back.

    Attributes point into the file the user wrote: ``path``, ``line`` and ``column`` (1-based; 0 when unknown),
    ``statement`` (the failing statement as sent), and the server's ``sqlstate``, ``message``, ``detail`` and
    ``hint``. ``applied`` names the migrations of the same run that were committed before the failure.
    ``rolled_back`` is False for a ``no-transaction`` file, whose earlier statements stay applied; ``resumable``
    says that they were recorded, so that the next run continues at the failed statement. ``outcome``, when given,
    says instead what of a ``no-transaction`` file stays applied, what was rolled back and what is recorded.
    """

    def __init__(
        self,
        *,
        path: Path,
        name: str,
        line: int,
        column: int,
        statement: str,
        sqlstate: str | None,
        message: str,
        detail: str | None = None,
        hint: str | None = None,
        applied: tuple[str, ...] = (),
        rolled_back: bool = True,
        resumable: bool = False,
        outcome: str | None = None,
    ) -> None:
        self.path = path
        self.name = name
        self.line = line
        self.column = column
        self.statement = statement
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint
        self.applied = applied
        self.rolled_back = rolled_back
        self.resumable = resumable
        self.outcome = outcome
        super().__init__(self._text())

    def _text(self) -> str:
        parts = _located(self)
        if self.rolled_back:
            parts.append(f"  {self.name} was rolled back.")
        elif self.outcome:
            parts.append(f"  {self.outcome}")
        elif self.resumable:
            parts.append(
                f"  {self.name} runs without a transaction: the statements before this one stay applied and are"
                " recorded as done. Fix this statement and run up again: it continues here ('status' shows it as"
                " partial)."
            )
        else:
            parts.append(
                f"  {self.name} runs without a transaction: the statements before this one stay applied and it is"
                " not recorded. Make them safe to repeat (IF NOT EXISTS) before running it again."
            )
        if self.applied:
            parts.append(f"  applied before the failure in this run: {', '.join(self.applied)}")
        return "\n".join(parts)


class TenantsFailed(SqlmigError):
    """The pytest plugin could not build a multi-tenant template: a track failed in some of its schemas (the others
    were migrated; the template database is dropped). ``track`` is the track that failed, ``schemas`` every schema
    of the template, ``failed`` the :class:`~sqlmig.fanout.TargetResult` of each schema that failed or did not run,
    whose ``error`` names the file, line and statement; ``redact`` hides passwords in their text."""

    def __init__(
        self, track: str, schemas: Sequence[str], failed: Sequence[TargetResult], *, redact: Callable[[str], str] = str
    ) -> None:
        self.track, self.schemas, self.failed = track, tuple(schemas), tuple(failed)
        lines = [f"the {track} track failed in {len(failed)} of the template's {len(schemas)} schemas:"]
        for result in failed:
            error = str(result.error) if result.error is not None else "not run"
            lines.append(f"  schema {result.target!r}: " + redact(error).replace("\n", "\n  "))
        super().__init__("\n".join(lines))
