"""The migrations of the fault tests, each listing the objects it creates so that a test can check the schema
against the history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..helpers import tree

# Only the run under test is slow: its own connection sets faults.sleep, which the slow migration reads, so a
# rerun of the same unchanged file does not sleep. client_connection_check_interval lets the server notice within
# 100 ms that a killed client's socket is gone, even in the middle of pg_sleep(); without it the orphaned backend
# would sleep on, holding the migration lock, until the statement ends.
SLOW_SECONDS = 30
SLOW_ENV = {"PGOPTIONS": f"-c faults.sleep={SLOW_SECONDS} -c client_connection_check_interval=100"}


@dataclass(frozen=True)
class Spec:
    """A migration file and the objects it creates: ``schema:s``, ``table:s.t``, ``index:s.i``, ``column:s.t.c``."""

    name: str
    sql: str
    objects: frozenset[str]

    @property
    def filename(self) -> str:
        return f"{self.name}.up.sql"


def spec(name: str, sql: str, *objects: str) -> Spec:
    return Spec(name, sql, frozenset(objects))


def write(base: Path, specs: Sequence[Spec]) -> Path:
    """Write the migrate track of ``specs`` under ``base``; return ``base`` (the folder holding ``migrate/``)."""
    return tree(base, {f"migrate/{s.filename}": s.sql for s in specs})


def names(specs: Iterable[Spec]) -> list[str]:
    return [s.name for s in specs]


def app_specs() -> list[Spec]:
    """Four migrations; the second can be made to sleep in the middle (see ``SLOW_ENV``)."""
    return [
        spec(
            "20240101_000001_accounts",
            "CREATE SCHEMA app;\nCREATE TABLE app.accounts (id bigint PRIMARY KEY, name text NOT NULL);\n",
            "schema:app",
            "table:app.accounts",
            "index:app.accounts_pkey",
        ),
        spec(
            "20240101_000002_orders_backfill",
            "CREATE TABLE app.orders (id bigint PRIMARY KEY, account_id bigint NOT NULL);\n"
            "CREATE INDEX orders_account_idx ON app.orders (account_id);\n"
            "SELECT pg_sleep(coalesce(current_setting('faults.sleep', true), '0')::float8);\n"
            "INSERT INTO app.orders SELECT g, g % 10 FROM generate_series(1, 1000) AS g;\n",
            "table:app.orders",
            "index:app.orders_pkey",
            "index:app.orders_account_idx",
        ),
        spec(
            "20240101_000003_accounts_email",
            "ALTER TABLE app.accounts ADD COLUMN email text;\n"
            "CREATE UNIQUE INDEX accounts_email_key ON app.accounts (email);\n",
            "column:app.accounts.email",
            "index:app.accounts_email_key",
        ),
        spec(
            "20240101_000004_payments",
            "CREATE TABLE app.payments (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES app.orders);\n",
            "table:app.payments",
            "index:app.payments_pkey",
        ),
    ]
