"""sqlmig: raw-SQL PostgreSQL migrations, with an advisory lock, a history table and Jinja2 templates.

Start-up use::

    import sqlmig
    sqlmig.apply()                      # URL from SQLMIG_DATABASE_URL / DIRECT_URL / DATABASE_URL / .env

Every error derives from :class:`SqlmigError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BookkeepingError,
    ConfigError,
    ConnectError,
    ConnectionLostError,
    DatabaseError,
    DiscoveryError,
    DriftError,
    FileProblem,
    HistoryTableError,
    LintError,
    LockTimeout,
    MigrationError,
    MissingDownError,
    MissingFileError,
    OutOfOrderError,
    PendingMigrationsError,
    PlanError,
    PoolerError,
    RenderError,
    SqlmigError,
)
from .model import Report, Result, StatusEntry, StatusReport
from .version import __version__

if TYPE_CHECKING:
    from .api import accept, apply, apply_all, baseline, rollback, rollback_all, status
    from .migrator import Migrator

__all__ = [
    "BookkeepingError",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "DatabaseError",
    "DiscoveryError",
    "DriftError",
    "FileProblem",
    "HistoryTableError",
    "LintError",
    "LockTimeout",
    "MigrationError",
    "Migrator",
    "MissingDownError",
    "MissingFileError",
    "OutOfOrderError",
    "PendingMigrationsError",
    "PlanError",
    "PoolerError",
    "RenderError",
    "Report",
    "Result",
    "SqlmigError",
    "StatusEntry",
    "StatusReport",
    "__version__",
    "accept",
    "apply",
    "apply_all",
    "baseline",
    "rollback",
    "rollback_all",
    "status",
]


def __getattr__(name: str) -> Any:
    # The API pulls in psycopg; load it on first use so that `sqlmig --help` and `sqlmig new` stay fast.
    if name in ("apply", "apply_all", "rollback", "rollback_all", "status", "accept", "baseline"):
        from . import api

        return getattr(api, name)
    if name == "Migrator":
        from .migrator import Migrator

        return Migrator
    raise AttributeError(f"module 'sqlmig' has no attribute {name!r}")
