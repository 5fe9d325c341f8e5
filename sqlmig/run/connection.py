"""Connections for a run: the caller's or a new one, waiting for a server that is still starting, and the role
the migrations run as."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .. import config
from ..errors import ConfigError, ConnectError, DatabaseError, SqlmigError
from ..model import Conn

log = logging.getLogger("sqlmig")
Database: TypeAlias = "str | Conn | None"


# The PostgreSQL majors sqlmig is tested on. Others are used, with a warning.
OLDEST_MAJOR, NEWEST_MAJOR = 14, 18
_WARNED: set[int] = set()

# Connections sqlmig opened itself (and closes): psycopg prepares no statements on them.
_OWNED: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def owned(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``conn`` is a connection sqlmig opened itself, rather than one the caller passed in."""
    return conn in _OWNED


def session_restore(conn: Conn) -> str:
    """A statement that sets again what the caller set on its connection before handing it over: the settings
    whose source is the session (``SET search_path``, ``SET work_mem`` …) and the role (``SET ROLE``), to run after
    the reset that ends each migration; "" when it set none. The values are literals, quoted by psycopg. Reads."""
    from psycopg import sql

    rows = conn.execute(
        "SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session'"
        " UNION ALL SELECT 'role', current_setting('role') WHERE current_setting('role') <> 'none'"
    ).fetchall()
    if not rows:
        return ""
    calls = [sql.SQL("pg_catalog.set_config({}, {}, false)").format(sql.Literal(n), sql.Literal(v)) for n, v in rows]
    return sql.SQL("SELECT {}").format(sql.SQL(", ").join(calls)).as_string(conn)


@contextmanager
def connect(database: Database, settings: config.Settings) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for a run: the caller's (restored afterwards) or a new one (closed afterwards).
    Raises :class:`ConfigError` when no URL is configured, :class:`ConnectError` when the server refuses or the
    connection is lost, and :class:`DatabaseError` for any other server error outside a migration's own SQL."""
    if isinstance(database, psycopg.Connection):
        if database.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ConfigError("the connection passed to sqlmig is inside a transaction; commit or roll back first")
        previous = database.autocommit, database.prepare_threshold
        database.autocommit, database.prepare_threshold = True, None
        _warn_untested(database.info.server_version)
        try:
            yield database
        except psycopg.Error as exc:
            raise _outside_migration(database, exc, "the given connection") from exc
        finally:
            if not database.closed and not database.broken:
                database.autocommit, database.prepare_threshold = previous
        return
    url = settings.database_url
    if not url:
        raise ConfigError(
            "no database URL: pass one, or set SQLMIG_DATABASE_URL, DIRECT_URL or DATABASE_URL "
            "(in the environment or in .env)"
        )
    conn = _connect_waiting(url, settings)
    _warn_untested(conn.info.server_version)
    with conn:
        try:
            if settings.role:
                _check_role(conn, settings.role)
            yield conn
        except psycopg.Error as exc:
            raise _outside_migration(conn, exc, config.redact(url, url), url) from exc


def untested_version(server_version: int) -> str | None:
    """What to say about a server of ``server_version`` (libpq's number, e.g. 180006) outside the majors sqlmig
    is tested on, or None for a tested one. Pure."""
    major = server_version // 10000
    minor = server_version % 10000 if major >= 10 else server_version // 100 % 100  # 9.6 is 90624
    shown = f"{major}.{minor}"
    if major < OLDEST_MAJOR:
        return (
            f"PostgreSQL {shown} is older than the oldest major sqlmig is tested on ({OLDEST_MAJOR}): it may"
            f" work, but nothing checks that; upgrade the server to PostgreSQL {OLDEST_MAJOR} to {NEWEST_MAJOR}"
        )
    if major > NEWEST_MAJOR:
        return (
            f"PostgreSQL {shown} is newer than the newest major sqlmig is tested on ({NEWEST_MAJOR}): it should"
            " work, but nothing checks that yet; a newer sqlmig may support it"
        )
    return None


def _warn_untested(server_version: int) -> None:
    """Log :func:`untested_version`'s warning once per process and major."""
    note = untested_version(server_version)
    if note is not None and server_version // 10000 not in _WARNED:
        _WARNED.add(server_version // 10000)
        log.warning("%s", note)


# What a server error in sqlmig's own work (the history table, the migration lock) means, by SQLSTATE: what
# happened, and what to do. Only these name a cause; any other error is reported with the server's words alone.
_REFUSED = "the server refused sqlmig's own work on the history table or the migration lock"
_CAUSES: dict[str, tuple[str, str]] = {
    "40P01": (
        "deadlock detected in sqlmig's own work on the history table or the migration lock",
        "The server ended sqlmig's query to break a cycle of sessions waiting for each other's locks (the detail "
        "names them); the query changed nothing. Run again; if it recurs, look for a session that locks the history "
        "table or takes the migration lock's key",
    ),
    "40001": (
        "serialization failure in sqlmig's own work on the history table",
        "Another transaction changed the same rows at the same time; the query changed nothing. Run again",
    ),
    "55P03": (
        "a lock sqlmig needs on the history table was not granted in time",
        "Another session holds a lock on it, and lock_timeout (set for this user or database) ended the wait; the "
        "query changed nothing. Let that session finish and run again",
    ),
    "57014": (
        "sqlmig's own query on the history table or the migration lock was cancelled",
        "statement_timeout (set for this user or database) or pg_cancel_backend() ended it; the query changed "
        "nothing. Run again, or raise that timeout for the user sqlmig connects as",
    ),
    "42501": (
        _REFUSED,
        "The role sqlmig runs as lacks a privilege it needs: let it create and write the history table (or "
        "create the table as its owner first); nothing was applied by the failing step",
    ),
    "25006": (
        _REFUSED,
        "The session is read-only: a standby, or default_transaction_read_only set for this user or database. "
        "Point sqlmig at the primary, or turn that setting off; nothing was applied by the failing step",
    ),
}
# By SQLSTATE class, for the errors of a class that all mean the same here.
_CLASS_CAUSES: dict[str, tuple[str, str]] = {
    "53": (
        "the server ran out of a resource during sqlmig's own work",
        "Free it (disk space, memory, connection slots) and run again; the query changed nothing",
    ),
    "57": (
        "the server stopped sqlmig's own work (it is shutting down or restarting, or an administrator ended it)",
        "Run again once the server accepts connections: sqlmig reads the history first",
    ),
}


def _outside_migration(
    conn: psycopg.Connection[Any], exc: psycopg.Error, where: str, url: str | None = None
) -> SqlmigError:
    """A server error in sqlmig's own work (the history table, the lock), not in a migration's SQL: a
    :class:`ConnectError` when the connection is gone, else a :class:`DatabaseError` saying what the SQLSTATE
    means here and what to do."""
    reason = config.redact(str(exc).strip(), url)
    if conn.broken or conn.closed:
        return ConnectError(
            f"lost the connection to {where}: {reason}\nWhatever sqlmig had not committed was rolled back by the "
            "server. Run again once the server accepts connections: sqlmig reads the history first and applies "
            "only what it does not record as applied."
        )
    code = exc.sqlstate or ""
    summary, advice = _CAUSES.get(code) or _CLASS_CAUSES.get(code[:2]) or (_REFUSED, "Fix the cause and run again")
    state = f" (SQLSTATE {code})" if code else ""
    # The server's text may span lines (LINE, DETAIL): the advice goes on a line of its own after it.
    return DatabaseError(f"{where}: {summary}{state}: {reason}\n{advice}.")


def _starting_up(exc: psycopg.Error) -> bool:
    """Whether a connection failure is worth waiting out: no answer at all, or a server still starting up; not a
    malformed URL ("connection is bad: invalid …") or a refused login."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if exc.sqlstate == "57P03":
        return True
    text = str(exc)
    return exc.sqlstate is None and not text.startswith("connection is bad") and "authentication failed" not in text


def _connect_waiting(url: str, settings: config.Settings) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + settings.wait
    delay = 0.1
    while True:
        try:
            # No server-side prepared statements: they break behind transaction-mode poolers, and sqlmig repeats
            # few queries often enough to gain from them.
            conn = psycopg.connect(
                url, autocommit=True, application_name="sqlmig", prepare_threshold=None, **_liveness(url)
            )
            _OWNED.add(conn)
            return conn
        except psycopg.Error as exc:
            left = deadline - time.monotonic()
            if _starting_up(exc) and left > 0:
                log.info(
                    "waiting for the server (%.0fs left): %s",
                    left,
                    config.redact(str(exc).strip().splitlines()[0], url),
                )
                time.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)
                continue
            where = f"{config.redact(url, url)} (from {settings.url_source})"
            waited = f" (waited {settings.wait:g}s)" if settings.wait else ""
            todo = " Start the server, or wait for it with --wait SECONDS." if _starting_up(exc) else ""
            reason = config.redact(str(exc).strip(), url)
            raise ConnectError(f"cannot connect to {where}{waited}: {reason}.{todo}") from None


# A server that dies, or a network that drops the connection, during a long migration would otherwise leave sqlmig
# waiting for hours (the kernel's TCP defaults) while every other instance waits for the lock: probe an idle
# connection after 30 s, give up after 3 unanswered probes 10 s apart, or when sent data stays unacknowledged for
# 60 s. A busy server still acknowledges both, however long its statement runs. Values in the URL win.
LIVENESS = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}
LIVENESS_TCP_USER_TIMEOUT_MS = "60000"


def _liveness(url: str) -> dict[str, Any]:
    """The TCP keepalive and ``tcp_user_timeout`` parameters that ``url`` does not set itself."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return {}  # psycopg.connect reports the malformed URL
    wanted = {**LIVENESS, "tcp_user_timeout": LIVENESS_TCP_USER_TIMEOUT_MS}
    return {key: value for key, value in wanted.items() if key not in given}


def _check_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Fail early, before any lock, when the session cannot ``SET ROLE`` to ``role``."""
    row = conn.execute("SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s", (role,))
    found = row.fetchone()
    if found is None:
        raise ConfigError(f"--role {role}: no such role in this database; create it or pass another")
    if not found[0]:
        raise ConfigError(
            f"--role {role}: the connecting user is not a member of it, so it cannot SET ROLE; "
            f"GRANT {role} TO <user> first"
        )


def url_of(database: Database, settings: config.Settings) -> str | None:
    """The URL a run connects with; None when the caller passed an open connection."""
    return None if isinstance(database, psycopg.Connection) else settings.database_url
