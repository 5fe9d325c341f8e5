"""The server that holds the template databases: a connection for the session's own statements, URLs of its
databases, advisory locks on template names, and dropping databases that may still have connections."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .. import config
from ..errors import ConnectError, DatabaseError

CLONE_PREFIX = "sqlmig_clone_"


class Server:
    """The session's admin connection to the server that holds the templates, and the advisory locks on it.

    Clones are named after the session, which holds its *session* lock until it ends: a session that was killed
    before it could drop its clones is found by its free lock, and the next session drops them.
    """

    def __init__(self, url: str, where: str) -> None:
        self.url = url
        self.where = where
        self.clones = 0
        self.session = uuid.uuid4().hex[:12]
        try:
            self.conn = psycopg.connect(
                url, autocommit=True, application_name="sqlmig-pytest", connect_timeout=10, prepare_threshold=None
            )
        except psycopg.Error as exc:
            raise ConnectError(f"cannot connect to {where}: {config.redact(str(exc).strip(), url)}") from None
        self.lock("session", self.session)
        for other in sorted({n[len(CLONE_PREFIX) :].split("_")[0] for n in self.names(CLONE_PREFIX)}):
            if other != self.session and self.lock("session", other, wait=False):
                self.drop_all(f"{CLONE_PREFIX}{other}_")
                self.unlock("session", other)

    def url_of(self, dbname: str) -> str:
        """The server's URL (or ``key=value`` string, as given) with ``dbname`` as the database."""
        if not self.url.startswith(("postgresql://", "postgres://")):
            return make_conninfo(self.url, dbname=dbname)
        parts = urlsplit(self.url)
        query = parts.query
        if "dbname=" in query:  # a dbname parameter would win over the path
            query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "dbname"])
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe=""), query=query))

    def run(self, statement: sql.Composed | sql.SQL | str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the admin connection; server errors become :class:`~sqlmig.DatabaseError`."""
        try:
            cur = self.conn.execute(statement, params)
            return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            text = statement if isinstance(statement, str) else statement.as_string(self.conn)
            reason = config.redact(str(exc).strip(), self.url)
            if exc.sqlstate == "42501" and text.startswith("CREATE DATABASE"):
                reason += "; the role of the tests' server URL needs CREATEDB: the plugin makes a database per test"
            raise DatabaseError(f"{text}: {reason} (on {self.where})") from None

    def names(self, prefix: str) -> list[str]:
        """The databases whose names start with ``prefix``."""
        rows = self.run("SELECT datname FROM pg_database WHERE left(datname, %s) = %s", (len(prefix), prefix))
        return sorted(str(r[0]) for r in rows)

    def lock(self, kind: str, name: str, *, shared: bool = False, wait: bool = True) -> bool:
        """Take the ``kind`` advisory lock of template ``name`` for this session; without ``wait``, only if free."""
        func = ("pg_advisory_lock" if wait else "pg_try_advisory_lock") + ("_shared" if shared else "")
        row = self.run(sql.SQL("SELECT {}(%s)::text").format(sql.Identifier(func)), (lock_key(kind, name),))
        return bool(row[0][0] != "false")

    def unlock(self, kind: str, name: str) -> None:
        """Release an exclusive ``kind`` lock of template ``name`` taken by :meth:`lock`."""
        self.run("SELECT pg_advisory_unlock(%s)", (lock_key(kind, name),))

    def drop(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending its connections first."""
        ident = sql.Identifier(name)
        if self.run("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)) == [(True,)]:
            self.run(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
        if self.conn.info.server_version >= 130000:
            self.run(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        else:  # no FORCE before PostgreSQL 13
            self.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            self.run(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))

    def drop_all(self, prefix: str) -> None:
        """Drop the databases whose names start with ``prefix``, skipping those this role may not drop."""
        for name in self.names(prefix):
            with contextlib.suppress(DatabaseError):  # another role's: not ours to clean up
                self.drop(name)

    def close(self) -> None:
        """Close the admin connection, which releases this session's locks."""
        self.conn.close()


def lock_key(kind: str, name: str) -> int:
    """The advisory lock key (as in ``pg_locks``) of the ``kind`` lock (build, use, session) of ``name``."""
    return int.from_bytes(hashlib.sha256(f"sqlmig-pytest:{kind}:{name}".encode()).digest()[:8], "big", signed=True)
