"""Lock contention: per-migration timeouts, the backoff between retries, and who blocked a migration.

A DDL statement that waits for a table lock queues every later query on that table behind it, so a busy table
can stall an application for as long as the migration waits. Each migration therefore runs with ``lock_timeout``
(and ``statement_timeout``) set for its own transaction; when the lock is not granted in time (SQLSTATE 55P03)
the whole migration is rolled back, sqlmig waits and tries again, and after the last try it names the sessions
holding locks on the tables the statement needed.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..model import Conn, SqlFile

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
_MAX_BACKOFF = 60.0

log = logging.getLogger("sqlmig")
# RESET ALL leaves the role and the session authorization alone: they are reset by name. What else a migration
# leaves in the session (temporary tables, prepared statements, sequence values) goes in one DO block, in the
# transaction (DISCARD ALL cannot run in one, and would release the migration lock). psycopg's own prepared
# statements (_pg3_*) are kept: psycopg does not see a DEALLOCATE in sqlmig's scripts, and would then execute
# statements that no longer exist on a connection the caller passed in.
_SESSION_STATE = (
    "DO $sqlmig$DECLARE n text; BEGIN FOR n IN SELECT name FROM pg_catalog.pg_prepared_statements"
    " WHERE name !~ '^_pg3_' LOOP EXECUTE 'DEALLOCATE ' || pg_catalog.quote_ident(n); END LOOP;"
    " DISCARD TEMP; DISCARD SEQUENCES; END$sqlmig$"
)
_TEARDOWN = ("RESET ALL", "RESET SESSION AUTHORIZATION", "RESET ROLE", _SESSION_STATE)
# On a connection sqlmig opened itself, psycopg prepares nothing (prepare_threshold=None), so plain statements do
# the same as the DO block, without compiling PL/pgSQL in every migration's transaction.
_TEARDOWN_OWN = (
    "RESET ALL",
    "RESET SESSION AUTHORIZATION",
    "RESET ROLE",
    "DEALLOCATE ALL",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}

BLOCKERS_QUERY = """
SELECT a.pid, a.application_name, a.state, date_trunc('second', now() - coalesce(a.xact_start, a.query_start))::text,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200), string_agg(DISTINCT l.relation::regclass::text, ', ')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (l.relation = ANY(%s::oid[]) OR cardinality(%s::oid[]) = 0)
GROUP BY 1, 2, 3, 4, 5 ORDER BY 4 DESC NULLS LAST LIMIT 5
"""


@dataclass(frozen=True)
class Limits:
    """The limits one migration runs under: PostgreSQL durations (``5s``, ``1h``, ``0`` for none) and how many
    times a migration that hit ``lock_timeout`` is tried again."""

    lock_timeout: str
    statement_timeout: str
    lock_retries: int
    role: str | None = None
    # PostgreSQL 14+: notice a dead client during a long statement, so that the killed run's migration is rolled
    # back and its lock released at once, not when the statement ends.
    check_connection: bool = False
    # The connection is sqlmig's own, not one the caller passed in: see _TEARDOWN_OWN.
    own_connection: bool = False
    # On a connection the caller passed in: a statement that sets its own settings and role again after the
    # reset (see sqlmig.run.connection.session_restore), or "" when it had none.
    restore: str = ""

    def for_file(self, source: SqlFile) -> Limits:
        """These limits with the file's ``-- sqlmig: lock-timeout=…`` style directives applied."""
        retries = source.option("lock-retries")
        return replace(
            self,
            lock_timeout=source.option("lock-timeout") or self.lock_timeout,
            statement_timeout=source.option("statement-timeout") or self.statement_timeout,
            lock_retries=int(retries) if retries is not None else self.lock_retries,
        )

    def setup(self, *, local: bool) -> tuple[str, tuple[object, ...]]:
        """The query that applies these limits (and the role) to the current transaction (``local``) or session,
        and its parameters."""
        return _setup_query(self.check_connection, bool(self.role), local), self._values()

    def setup_text(self) -> str:
        """:meth:`setup` for the transaction, with its values as literals (for a simple-protocol script)."""
        return _inlined(self)

    def _values(self) -> tuple[object, ...]:
        values: list[object] = [self.lock_timeout, self.statement_timeout]
        if self.check_connection:
            values.append("1s")
        if self.role:
            values.append(self.role)
        return tuple(values)

    def teardown(self) -> list[str]:
        """What ends a migration's session state, so that each migration starts from the connection's own
        settings and identity: ``RESET ALL``, then ``RESET SESSION AUTHORIZATION`` and ``RESET ROLE``, which
        ``RESET ALL`` leaves alone (a migration's ``SET ROLE`` or ``SET SESSION AUTHORIZATION`` would otherwise
        own the next migration's objects and write its history row), then drop its temporary tables, prepared
        statements and sequence values (``DISCARD TEMP``, ``DEALLOCATE``, ``DISCARD SEQUENCES``), as a fresh
        session would have none: as plain statements on sqlmig's own connection, in a DO block that keeps
        psycopg's prepared statements on a connection the caller passed in, followed there by :attr:`restore`, so
        that every migration starts, and the caller gets its connection back, with the settings and role it had.
        Each may run inside a transaction."""
        if self.own_connection:
            return list(_TEARDOWN_OWN)
        return [*_TEARDOWN, self.restore] if self.restore else list(_TEARDOWN)

    def guard(self) -> tuple[str, tuple[object, ...]]:
        """The query that sets ``lock_timeout`` and ``statement_timeout`` again for the rest of the transaction
        after :meth:`teardown`, so that sqlmig's own history write never waits without limit, and its
        parameters."""
        values = (self.lock_timeout, self.statement_timeout, *(("1s",) if self.check_connection else ()))
        return _setup_query(self.check_connection, False, True), values

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt + 1``: the lock timeout itself, doubled each time, with
        jitter so that runners that collided do not collide again."""
        base = max(duration_ms(self.lock_timeout) / 1000.0, 0.05) * 2.0**attempt
        return float(min(base, _MAX_BACKOFF) * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy


@dataclass(frozen=True)
class Attempt:
    """One try of an operation that may hit ``lock_timeout``: ``number`` 0 is the first; after the ``last`` one
    the caller gives up and raises."""

    number: int
    last: bool


def attempts(limits: Limits, what: str, undone: str) -> Iterator[Attempt]:
    """The tries of one operation that may hit ``lock_timeout``, at any scope: a whole ``--single-transaction``
    run, one migration, one statement of a no-transaction file. There are ``lock_retries + 1`` at most; before each
    try after the first it logs that ``what`` hit the timeout and what was ``undone``, then sleeps
    :meth:`Limits.backoff`. The caller's loop leaves it when a try succeeds or fails for good, goes on to the next
    try only after a lock timeout that left nothing half done, and raises on the ``last`` try instead; asking for a
    try after the last raises :class:`RuntimeError`, so a caller's mistake cannot end the loop silently."""
    for number in range(limits.lock_retries + 1):
        if number:
            pause = limits.backoff(number - 1)
            log.warning(
                "%s: lock_timeout (%s) reached; %s, trying again in %.1fs (%d of %d)",
                what,
                limits.lock_timeout,
                undone,
                pause,
                number,
                limits.lock_retries,
            )
            time.sleep(pause)
        yield Attempt(number, number == limits.lock_retries)
    raise RuntimeError(f"{what}: a try after the last of {limits.lock_retries + 1}")


def is_lock_timeout(sqlstate: str | None) -> bool:
    """Whether ``sqlstate`` is the one ``lock_timeout`` ends a wait with."""
    return sqlstate == LOCK_NOT_AVAILABLE


def reset_session(conn: Conn, limits: Limits) -> None:
    """Give the connection back as the migration found it (:meth:`Limits.teardown`), when the limits or a role
    were set for the session rather than for a transaction. Writes session state only; does nothing on a closed or
    broken connection, or inside a transaction block, which the caller ends first."""
    if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return
    for query in limits.teardown():
        conn.execute(query)


@functools.lru_cache(maxsize=8)
def _setup_query(check_connection: bool, role: bool, local: bool) -> str:
    names = ["lock_timeout", "statement_timeout"]
    names += ["client_connection_check_interval"] if check_connection else []
    names += ["role"] if role else []
    scope = "true" if local else "false"
    return "SELECT " + ", ".join(f"set_config('{name}', %s, {scope})" for name in names)


@functools.lru_cache(maxsize=32)
def _inlined(limits: Limits) -> str:
    # Built once per run: the same limits apply to every migration without directives of its own. The template
    # holds no '%' but its placeholders, and the values are quoted by psycopg.
    query = _setup_query(limits.check_connection, bool(limits.role), True)
    return query % tuple(sql.Literal(v).as_string(None) for v in limits._values())


def duration_ms(text: str) -> float:
    """Milliseconds in a PostgreSQL duration such as ``5s`` or ``500ms`` (a bare number is milliseconds)."""
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    return float(number) * _UNITS.get(text[len(number) :].strip(), 1.0)


def relations(statement: str) -> list[tuple[str | None, str]]:
    """The tables a statement names, as (schema or None, name), in order of appearance, without repeats."""
    # Imported here: the API imports this module, and the no-op path must not load the parser.
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.visitors import Visitor

    found: list[tuple[str | None, str]] = []

    class Relations(Visitor):
        def visit_RangeVar(self, ancestors: Any, node: Any) -> None:
            found.append((node.schemaname, node.relname))

    try:
        Relations()(parse_sql(statement))
    except ParseError:
        return []
    return list(dict.fromkeys(found))


def blockers(conn: psycopg.Connection[Any], statement: str) -> list[str]:
    """Sessions holding locks on the tables ``statement`` names (any session with a table lock in this database
    when it names none that exist), oldest transaction first: pid, application_name, state, age and query.
    Read-only."""
    cur = conn.cursor(row_factory=tuple_row)
    oids = []
    for schema, name in relations(statement):
        ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        row = cur.execute("SELECT to_regclass(%s)::oid", (ident.as_string(conn),)).fetchone()
        if row and row[0] is not None:
            oids.append(row[0])
    rows = cur.execute(BLOCKERS_QUERY, (oids, oids)).fetchall()
    return [
        f"pid {pid} (application_name={app!r}, state={state}, for {age}, holding {rels}): {query}"
        for pid, app, state, age, query, rels in rows
    ]
