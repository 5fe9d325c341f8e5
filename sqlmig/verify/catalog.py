"""The catalog of a database as plain data, and the readable difference between two such snapshots.

A snapshot maps a key naming each object of the user's schemas to a one-line description of it, e.g.
``table app.items column price`` -> ``numeric(10,2) not null default 0`` (a function's takes several lines, one per
attribute and its body, so that a diff can say which changed: :mod:`sqlmig.verify.changes`). The queries are in
:mod:`sqlmig.verify.queries`. A nested object's key starts with its
parent's key, so a diff folds what belongs to an added or removed table into that table's line. OIDs, attnums and
grantors never appear, and names are qualified and quoted as SQL quotes them: the snapshot runs with
``search_path`` set to ``pg_catalog``, so every name PostgreSQL prints (in defaults, views, index definitions) is
qualified the same way whatever search_path the migrations left behind.

Column order is a difference PostgreSQL keeps (``SELECT *``, ``COPY`` and ``INSERT`` without a column list depend
on it), so it is one entry of its own, ``table app.items column order``: a column dropped and added again shows
as one line there, while its own entry stays the same.

A NOT NULL is part of its column's entry (``not null``, and ``not valid`` or ``no inherit`` where PostgreSQL 18
says so), not a constraint entry, on every major: PostgreSQL 18 records it in ``pg_constraint`` under a generated
name (as 17 does for a domain's), earlier majors only in ``pg_attribute``. So the same schema gives the same
snapshot on every major (a statistics target left at its default is not shown, whether the major says so with
-1 or, from 17 on, with NULL), apart from what the majors themselves differ in (the ``MAINTAIN`` privilege from 17
on, the owner of ``public`` from 15 on, the text of a view from 16 on).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..model import TableName
from . import changes
from . import queries as q


def snapshot(conn: psycopg.Connection[Any], exclude: Sequence[str] = (), *, rows: bool = False) -> dict[str, str]:
    """The catalog of the database ``conn`` is connected to, as a mapping sorted by key from each object of the
    user's schemas (every schema but ``pg_catalog``, ``information_schema`` and ``pg_*``) to its description:
    schemas; tables, views, materialized views, sequences and composite types (owner, options, row level
    security) with their columns (type, collation, not null, default, identity, generated, storage,
    compression, statistics target, options) and column order, replica identity, constraints, indexes (valid,
    clustered, statistics targets), triggers (enabled or not), row level security policies, publication
    membership and grants (table and column); functions and procedures (every attribute and the body);
    enums, domains, ranges;
    extensions; default privileges; comments; and the existence of rules, casts, operators, collations, text
    search objects, statistics objects, event triggers, publications and foreign servers.

    ``exclude`` names tables (``schema.table``) left out with their indexes and owned sequences, e.g. the
    history table. With ``rows``, each table's row count is an entry too (one ``count(*)`` per table, in one
    query). Read-only: a handful of catalog queries in one transaction (a savepoint inside the caller's).
    """
    cur = conn.cursor(row_factory=tuple_row)
    names = [TableName.parse(name).ident.as_string(conn) for name in exclude]
    out: dict[str, str] = {}
    version = conn.info.server_version
    with conn.transaction():
        # Until the end of this transaction only: a caller's own transaction gets its search_path back below.
        cur.execute("SELECT current_setting('search_path'), set_config('search_path', 'pg_catalog', true)")
        search_path = _one(cur)
        excluded = _one(cur.execute(q.EXCLUDED, (names,)))
        schemas = {oid: key for oid, key, _ in _add(out, cur.execute(q.SCHEMAS))}
        rels: dict[int, str] = {}
        tables: list[tuple[str, str, str]] = []
        for oid, kind, nspname, relname, key, desc in cur.execute(q.RELATIONS, (excluded,)):
            rels[oid] = key
            if kind != "c":  # a composite type's own entry comes from pg_type, with its owner and grants
                out[key] = desc
            if kind == "r":
                tables.append((key, nspname, relname))
        _columns(out, rels, cur.execute(q.columns(version)))
        functions = {oid: key for oid, key, _ in _add(out, cur.execute(q.functions(version)))}
        types: dict[int, str] = {}
        for oid, key, desc in cur.execute(q.TYPES):
            types[oid] = key
            out[key] = desc
        for parent, kind, name, desc in cur.execute(q.parts(version)):
            if parent in rels or parent in types:
                out[" ".join(filter(None, (rels.get(parent) or types[parent], kind, name)))] = desc
        owners = {"rel": rels, "col": rels, "ns": schemas, "fn": functions, "type": types}
        grants: dict[str, list[str]] = defaultdict(list)
        for kind, oid, col, grantee, privilege, grantable in cur.execute(q.GRANTS):
            if oid in owners[kind]:
                where = f"{owners[kind][oid]} column {col}" if col else owners[kind][oid]
                grants[f"{where} grant to {grantee}"].append(privilege + (" with grant option" if grantable else ""))
        out.update((key, ", ".join(sorted(privileges))) for key, privileges in grants.items())
        out.update(cur.execute(q.MISC, (excluded,)).fetchall())
        if rows and tables:
            out.update(_row_counts(cur, tables))
        cur.execute("SELECT set_config('search_path', %s, true)", (search_path,))
    return dict(sorted(out.items()))


def _one(cur: psycopg.Cursor[Any]) -> Any:
    row = cur.fetchone()
    assert row is not None  # every query it is used for returns one row
    return row[0]


def _add(out: dict[str, str], rows: Any) -> list[tuple[int, str, str]]:
    found = list(rows)
    out.update((key, desc) for _, key, desc in found)
    return found


def _columns(out: dict[str, str], rels: Mapping[int, str], rows: Any) -> None:
    order: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for relid, attnum, name, desc in rows:
        if relid in rels:
            out[f"{rels[relid]} column {name}"] = desc
            order[rels[relid]].append((attnum, name))
    for key, columns in order.items():
        out[f"{key} column order"] = ", ".join(name for _, name in sorted(columns))


def _row_counts(cur: psycopg.Cursor[Any], tables: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(i), sql.Identifier(nspname, relname))
        for i, (_, nspname, relname) in enumerate(tables)
    )
    return [(f"{tables[i][0]}{ROWS}", str(count)) for i, count in cur.execute(query)]


# How the key of a table's row count ends.
ROWS = " rows"


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The differences between two snapshots, one line per object in key order: ``+ KEY DESCRIPTION`` for an
    object only in ``after``, ``- KEY DESCRIPTION`` for one only in ``before``, and ``~ KEY before: … after: …``
    for one described differently. An added or removed object's own parts (a table's columns, indexes, grants)
    are folded into its line as a count. A function shows its summary when added or removed and, when changed,
    the attributes that differ and its body's unified diff (:func:`sqlmig.verify.changes.describe`). Pure; an
    empty list means the snapshots are equal."""
    gone = before.keys() - after.keys()
    new = after.keys() - before.keys()
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if key in gone or key in new:
            side, sign, value = (gone, "-", before[key]) if key in gone else (new, "+", after[key])
            if any(key[:i] in side for i, char in enumerate(key) if char == " "):
                continue  # folded into its parent's line
            parts = sum(1 for other in side if other.startswith(key + " "))
            value = changes.summary(key, value)
            line = f"{sign} {key}" + (f" {value}" if value else "")
            lines.append(line + (f" ({parts} more under it)" if parts else ""))
        elif before[key] != after[key]:
            if changes.structured(key, before[key]) and changes.structured(key, after[key]):
                lines += changes.describe(key, before[key], after[key])
            else:
                lines.append(f"~ {key} before: {before[key]} after: {after[key]}")
    return lines
