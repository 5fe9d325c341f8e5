"""The exit codes of the ``sqlmig`` command: each outcome's number, and the number of each of sqlmig's errors.

The library's errors say what went wrong; which process exit status that is belongs to the command line, so it
is decided here and nowhere else. :data:`EXIT_CODES` is the text of the help that documents them.
"""

from __future__ import annotations

from ..errors import (
    ConfigError,
    ConnectError,
    DatabaseError,
    DiscoveryError,
    LintError,
    LockTimeout,
    MigrationError,
    PlanError,
    RenderError,
    SqlmigError,
    TenantsFailed,
)

EXIT_OK = 0  # success, nothing to do included
EXIT_MIGRATION_FAILED = 1  # a migration's SQL failed on the server
EXIT_USAGE = 2  # click exits with it on a bad option or argument (click.UsageError.exit_code)
EXIT_PENDING = 3  # status --exit-code found pending migrations
EXIT_INVALID = 4  # invalid files, templates or plan, lint findings, a down that verify found wrong
EXIT_OPERATIONAL = 5  # configuration or connection, or sqlmig's own work on the server failed
EXIT_LOCK_TIMEOUT = 6  # the migration lock was not free in time

# Each error class's code; a class not listed has the code of its nearest listed base (see exit_code). The
# subclasses of StoppedMigration (BookkeepingError, ConnectionLostError) name DatabaseError and ConnectError among
# their bases, so they find their code there and not at SqlmigError.
_BY_CLASS: dict[type[SqlmigError], int] = {
    SqlmigError: EXIT_MIGRATION_FAILED,
    MigrationError: EXIT_MIGRATION_FAILED,
    ConfigError: EXIT_OPERATIONAL,
    ConnectError: EXIT_OPERATIONAL,
    DatabaseError: EXIT_OPERATIONAL,
    DiscoveryError: EXIT_INVALID,
    RenderError: EXIT_INVALID,
    PlanError: EXIT_INVALID,
    LintError: EXIT_INVALID,
    LockTimeout: EXIT_LOCK_TIMEOUT,
    TenantsFailed: EXIT_MIGRATION_FAILED,  # the pytest plugin's: migrations failed in some of a template's schemas
}


def exit_code(exc: SqlmigError) -> int:
    """The process exit status of the command that failed with ``exc``: the code of the first class in its method
    resolution order that has one, so that a subclass exits like its parent. Raises nothing (every error derives
    from :class:`SqlmigError`, which has a code)."""
    return next(_BY_CLASS[cls] for cls in type(exc).__mro__ if cls in _BY_CLASS)


EXIT_CODES = (
    "\b\nExit codes: 0 success (nothing to do included), 1 a migration's SQL failed, 2 usage error,\n"
    "3 status --exit-code found pending migrations, 4 invalid files, templates or plan (drift, missing\n"
    "file, out of order, lint findings, a down that verify found wrong), 5 configuration or connection\n"
    "error, or sqlmig's own work failed during a run (history write, lost connection),\n"
    "6 the migration lock was not free in time."
)
