"""Detection of transaction-mode connection poolers (PgBouncer, Supavisor) before the migration lock is taken."""

from __future__ import annotations

from typing import Any

import psycopg


def check(conn: psycopg.Connection[Any], url: str | None) -> None:
    """Raise :class:`~sqlmig.PoolerError` when ``conn`` goes through a transaction-mode pooler. Read-only."""
