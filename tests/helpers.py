"""Small shared helpers for building migration trees in tests."""

from __future__ import annotations

from pathlib import Path

import psycopg


def tree(base: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (paths relative to ``base``, e.g. ``migrate/20240101_000000_a.up.sql``); return ``base``."""
    for rel, content in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return base


def history(conn: psycopg.Connection[tuple[object, ...]], track: str = "migrate") -> list[str]:
    """Names recorded in public.migration_history for ``track``, in id order."""
    rows = conn.execute("SELECT name FROM public.migration_history WHERE type = %s ORDER BY id", (track,))
    return [str(r[0]) for r in rows]


def relations(conn: psycopg.Connection[tuple[object, ...]], schema: str = "public") -> set[str]:
    """Names of the tables, views, sequences and indexes in ``schema``."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
        (schema,),
    )
    return {str(r[0]) for r in rows}
