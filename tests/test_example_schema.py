"""The project's own example migrations (migrations/), as an application's tests would see them: through the
``sqlmig.testing`` plugin, which applies them once per session and gives each test a clone."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import TupleRow

Conn = psycopg.Connection[TupleRow]


def _user(conn: Conn, email: str) -> object:
    row = conn.execute(
        'INSERT INTO auth."user" (email, hashed_password) VALUES (%s, %s) RETURNING id', (email, "x")
    ).fetchone()
    assert row is not None
    return row[0]


def test_deleting_a_user_deletes_their_items(sqlmig_db: Conn) -> None:
    user = _user(sqlmig_db, "ada@example.com")
    sqlmig_db.execute("INSERT INTO app.items (user_id, title) VALUES (%s, 'first'), (%s, 'second')", (user, user))
    sqlmig_db.execute('DELETE FROM auth."user" WHERE id = %s', (user,))
    assert sqlmig_db.execute("SELECT count(*) FROM app.items").fetchone() == (0,)


def test_an_item_needs_a_user(sqlmig_db: Conn) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        sqlmig_db.execute("INSERT INTO app.items (user_id, title) VALUES (gen_random_uuid(), 'orphan')")


def test_each_test_starts_from_the_migrations(sqlmig_db: Conn) -> None:
    assert sqlmig_db.execute('SELECT count(*) FROM auth."user"').fetchone() == (0,)
    assert sqlmig_db.execute("SELECT count(*) FROM master.categories").fetchone() == (0,)


@pytest.mark.sqlmig(seeds=True)
def test_seeds_fill_the_reference_tables(sqlmig_db: Conn) -> None:
    categories = sqlmig_db.execute("SELECT count(*) FROM master.categories").fetchone()
    assert categories is not None and int(str(categories[0])) > 0
    history = sqlmig_db.execute("SELECT count(*) FROM public.migration_history WHERE type = 'seed'").fetchone()
    assert history == (2,)
