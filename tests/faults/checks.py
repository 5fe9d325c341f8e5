"""The checks every fault test ends with, and what the server says about sqlmig's sessions while a test runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from .processes import wait_until
from .scenario import Spec, names

Conn = psycopg.Connection[tuple[object, ...]]

CATALOG = """
SELECT 'schema:' || n.nspname FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT CASE c.relkind WHEN 'i' THEN 'index:' ELSE 'table:' END || n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'i')
UNION ALL
SELECT 'column:' || n.nspname || '.' || c.relname || '.' || a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
"""


def catalog_objects(conn: Conn, schemas: Iterable[str]) -> set[str]:
    """The schemas, tables, indexes and columns that exist in ``schemas``, named as in :class:`Spec`."""
    rows = conn.execute(CATALOG, {"schemas": sorted(set(schemas))}).fetchall()
    return {str(r[0]) for r in rows}


def recorded(conn: Conn) -> list[tuple[str, str]]:
    """(name, type) of every history row, in id order; none when the table does not exist yet."""
    if conn.execute("SELECT to_regclass('public.migration_history')").fetchone() == (None,):
        return []
    rows = conn.execute("SELECT name, type FROM public.migration_history ORDER BY id").fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


def assert_consistent(conn: Conn, specs: Sequence[Spec]) -> list[str]:
    """Check that the history has each migration at most once, in file order with no gap, and agrees with the
    schema: every recorded migration's objects exist and no unrecorded migration's object does. Return the
    recorded names."""
    rows = recorded(conn)
    assert {kind for _, kind in rows} <= {"migrate"}, rows
    done = [name for name, _ in rows]
    duplicates = sorted({n for n in done if done.count(n) > 1})
    assert duplicates == [], f"recorded more than once: {duplicates}"
    assert done == names(specs)[: len(done)], f"history {done} is not a prefix of the files {names(specs)}"
    applied = [s for s in specs if s.name in done]
    pending = [s for s in specs if s.name not in done]
    schemas = {obj.split(":", 1)[1].split(".", 1)[0] for s in specs for obj in s.objects}
    actual = catalog_objects(conn, schemas)
    missing = {s.name: sorted(s.objects - actual) for s in applied if s.objects - actual}
    assert missing == {}, f"recorded migrations whose objects do not exist: {missing}"
    leftover = {s.name: sorted(s.objects & actual) for s in pending if s.objects & actual}
    assert leftover == {}, f"unrecorded migrations whose objects exist: {leftover}"
    return done


def sqlmig_backends(conn: Conn) -> list[int]:
    """Backends of sqlmig runs connected to this database."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqlmig'"
    ).fetchall()
    return [int(str(r[0])) for r in rows]


def advisory_locks(conn: Conn) -> int:
    # Only this database's: other databases on a shared server are other tests' business.
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def assert_no_advisory_lock(conn: Conn) -> None:
    """Once every runner's session has ended (a killed client's backend may take a moment), no advisory lock is
    held in the database."""
    wait_until(lambda: not sqlmig_backends(conn), timeout=10, what="every sqlmig backend to end")
    assert advisory_locks(conn) == 0


def assert_end_state(conn: Conn, specs: Sequence[Spec]) -> None:
    """Every migration applied exactly once, history consistent with the schema, no advisory lock left."""
    assert assert_consistent(conn, specs) == names(specs)
    assert_no_advisory_lock(conn)


def sleeping_backend(conn: Conn) -> int | None:
    """The pid of a sqlmig backend running the slow migration's pg_sleep(), if there is one."""
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqlmig'"
        " AND state = 'active' AND position('pg_sleep' in query) > 0"
    ).fetchone()
    return None if row is None else int(str(row[0]))


def lock_pollers(conn: Conn, holder: int) -> list[int]:
    """sqlmig backends other than ``holder`` whose latest statement waits for (or tries) the migration lock."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sqlmig'"
        " AND pid <> %s AND position('advisory_lock' in query) > 0",
        (holder,),
    ).fetchall()
    return [int(str(r[0])) for r in rows]


def backend_gone(conn: Conn, pid: int) -> bool:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() == (0,)
