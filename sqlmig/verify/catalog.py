"""The catalog of a database as plain data, and the readable difference between two such snapshots.

A snapshot maps a key naming each object of the user's schemas to a one-line description of it, e.g.
``table app.items column price`` -> ``numeric(10,2) not null default 0``. A nested object's key starts with its
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
snapshot on every major, apart from what the majors themselves differ in (the ``MAINTAIN`` privilege from 17 on,
the owner of ``public`` from 15 on, the text of a view from 16 on).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ..model import TableName

# Objects created by users have OIDs from here on; the filter keeps every query off the built-in catalog rows.
FIRST_USER_OID = 16384
# Names starting with pg_ are reserved for the system's schemas (pg_catalog, pg_toast, pg_temp_N, ...).
_USER = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


def _not_extension_member(catalog: str, oid: str) -> str:
    # What an extension created is described by the extension's own entry (name, version, schema).
    where = f"e.classid = '{catalog}'::regclass AND e.objid = {oid} AND e.deptype = 'e'"
    return f"NOT EXISTS (SELECT FROM pg_depend e WHERE {where})"


# The excluded tables (the history table) with their indexes and owned sequences.
_EXCLUDED = """
WITH t AS (SELECT to_regclass(x)::oid AS oid FROM unnest(%s::text[]) AS x)
SELECT coalesce(array_agg(oid), '{}') FROM (SELECT oid FROM t WHERE oid IS NOT NULL UNION
  SELECT d.objid FROM pg_depend d JOIN t ON d.refobjid = t.oid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) s
"""
_SCHEMAS = f"""
SELECT n.oid, 'schema ' || quote_ident(n.nspname), 'owner ' || quote_ident(pg_get_userbyid(n.nspowner))
FROM pg_namespace n WHERE {_USER} AND {_not_extension_member("pg_namespace", "n.oid")}
"""
_RELATIONS = f"""
SELECT c.oid, c.relkind, n.nspname, c.relname,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'type' END
    || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
  concat_ws(', ', 'owner ' || quote_ident(pg_get_userbyid(c.relowner)),
    CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END,
    CASE WHEN c.relrowsecurity THEN 'row level security enabled' END,
    CASE WHEN c.relforcerowsecurity THEN 'row level security forced' END,
    'with (' || array_to_string(c.reloptions, ', ') || ')',
    (SELECT 'inherits ' || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
     FROM pg_inherits i WHERE i.inhrelid = c.oid),
    'partition ' || pg_get_expr(c.relpartbound, c.oid),
    CASE WHEN c.relkind = 'p' THEN 'partition by ' || pg_get_partkeydef(c.oid) END,
    CASE WHEN c.relkind IN ('v', 'm')
      THEN 'as ' || regexp_replace(btrim(pg_get_viewdef(c.oid)), '[[:space:]]+', ' ', 'g') END,
    (SELECT format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' increment ' || s.seqincrement || ' min '
       || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
     FROM pg_sequence s WHERE s.seqrelid = c.oid),
    (SELECT 'owned by ' || d.refobjid::regclass::text || '.' || quote_ident(a.attname) FROM pg_depend d
     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid >= {FIRST_USER_OID} AND {_USER}
  AND c.oid <> ALL(%s::oid[]) AND {_not_extension_member("pg_class", "c.oid")}
"""
_COLUMNS = f"""
SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
  || coalesce((SELECT ' collate ' || quote_ident(co.collname) FROM pg_collation co
               WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation), '')
  || CASE WHEN a.attnotnull THEN ' not null' || coalesce((SELECT CASE WHEN k.convalidated THEN '' ELSE ' not valid' END
       || CASE WHEN k.connoinherit THEN ' no inherit' ELSE '' END FROM pg_constraint k
       WHERE k.contype = 'n' AND k.conrelid = a.attrelid AND k.conkey[1] = a.attnum), '') ELSE '' END
  || CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
       WHEN 'd' THEN ' generated by default as identity' ELSE '' END
  || coalesce(' ' || CASE a.attgenerated WHEN 's' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid)
       || ') stored' WHEN 'v' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') virtual'
       ELSE 'default ' || pg_get_expr(d.adbin, d.adrelid) END, '')
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class r ON r.oid = a.attrelid AND r.relkind <> 'S'  -- a sequence's columns are the same for all
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid >= {FIRST_USER_OID} AND a.attnum > 0 AND NOT a.attisdropped
"""
# (relation or type oid, kind of entry, name, description): everything that hangs off a table or a domain.
_PARTS = f"""
SELECT coalesce(nullif(conrelid, 0), contypid), 'constraint', quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint WHERE oid >= {FIRST_USER_OID} AND contype <> 'n'
UNION ALL SELECT i.indrelid, 'index', quote_ident(c.relname),
  pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid >= {FIRST_USER_OID}
UNION ALL SELECT tgrelid, 'trigger', quote_ident(tgname), pg_get_triggerdef(oid) || CASE tgenabled
  WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled replica)' WHEN 'A' THEN ' (enabled always)' ELSE '' END
FROM pg_trigger WHERE NOT tgisinternal AND tgrelid >= {FIRST_USER_OID}
UNION ALL SELECT polrelid, 'policy', quote_ident(polname),
  CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END || ' for '
  || CASE polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete'
       ELSE 'all' END
  || ' to ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END, ', '
                                  ORDER BY CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END)
                FROM unnest(polroles) AS r)
  || coalesce(' using (' || pg_get_expr(polqual, polrelid) || ')', '')
  || coalesce(' with check (' || pg_get_expr(polwithcheck, polrelid) || ')', '')
FROM pg_policy WHERE polrelid >= {FIRST_USER_OID}
"""
_FUNCTIONS = f"""
SELECT p.oid, CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function'
    ELSE 'function' END || ' ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
    || '(' || pg_get_function_identity_arguments(p.oid) || ')',
  concat_ws(', ', 'owner ' || quote_ident(pg_get_userbyid(p.proowner)), 'returns ' || pg_get_function_result(p.oid),
    CASE WHEN p.prokind <> 'a' THEN 'definition md5 ' || left(md5(pg_get_functiondef(p.oid)), 12) END)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.oid >= {FIRST_USER_OID} AND {_USER} AND {_not_extension_member("pg_proc", "p.oid")}
"""
_TYPES = f"""
SELECT t.oid, CASE t.typtype WHEN 'd' THEN 'domain ' ELSE 'type ' END
    || quote_ident(n.nspname) || '.' || quote_ident(t.typname),
  concat_ws(', ', 'owner ' || quote_ident(pg_get_userbyid(t.typowner)), CASE t.typtype
    WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                        FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
    WHEN 'd' THEN 'over ' || format_type(t.typbasetype, t.typtypmod)
      || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || t.typdefault, '')
    WHEN 'r' THEN 'range over ' || (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
    WHEN 'c' THEN 'composite' ELSE 'base type' END)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid >= {FIRST_USER_OID} AND {_USER} AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT FROM pg_type a WHERE a.typarray = t.oid) AND {_not_extension_member("pg_type", "t.oid")}
"""
# A missing ACL means the owner's default privileges: compared as those, so that GRANT then REVOKE is no change.
_GRANTS = f"""
SELECT g.kind, g.oid, g.col, CASE WHEN g.grantee = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
  g.privilege_type, g.is_grantable
FROM (SELECT 'rel' AS kind, c.oid, '' AS col, a.* FROM pg_class c, aclexplode(coalesce(c.relacl,
        acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
      WHERE c.oid >= {FIRST_USER_OID} AND c.relkind <> 'c'
  UNION ALL SELECT 'col', at.attrelid, quote_ident(at.attname), a.* FROM pg_attribute at, aclexplode(at.attacl) a
      WHERE at.attrelid >= {FIRST_USER_OID} AND at.attacl IS NOT NULL AND NOT at.attisdropped
  UNION ALL SELECT 'ns', ns.oid, '', a.* FROM pg_namespace ns, aclexplode(coalesce(ns.nspacl,
        acldefault('n', ns.nspowner))) a
  UNION ALL SELECT 'fn', p.oid, '', a.* FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      WHERE p.oid >= {FIRST_USER_OID}
  UNION ALL SELECT 'type', t.oid, '', a.* FROM pg_type t, aclexplode(coalesce(t.typacl, acldefault('T', t.typowner))) a
      WHERE t.oid >= {FIRST_USER_OID}) g
"""
_MISC = f"""
SELECT 'extension ' || quote_ident(x.extname), 'version ' || x.extversion || ', schema ' || quote_ident(n.nspname)
FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
UNION ALL SELECT 'default privileges of ' || quote_ident(pg_get_userbyid(d.defaclrole))
    || coalesce(' in schema ' || quote_ident(n.nspname), '') || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables'
    WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END,
  array_to_string(ARRAY(SELECT x::text FROM unnest(d.defaclacl) AS x ORDER BY 1), ' ')
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
UNION ALL SELECT 'comment on ' || i.type || ' ' || i.identity, d.description
FROM pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) i
WHERE (d.objoid >= {FIRST_USER_OID} OR d.classoid = 'pg_namespace'::regclass)
  AND NOT (d.classoid = 'pg_class'::regclass AND d.objoid = ANY(%s::oid[]))
  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END, '') !~ '^(pg_|information_schema$)'
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')
UNION ALL SELECT i.type || ' ' || i.identity, 'exists'
FROM (SELECT 'pg_collation'::regclass AS cls, oid FROM pg_collation UNION ALL SELECT 'pg_operator', oid FROM pg_operator
  UNION ALL SELECT 'pg_cast', oid FROM pg_cast UNION ALL SELECT 'pg_conversion', oid FROM pg_conversion
  UNION ALL SELECT 'pg_ts_config', oid FROM pg_ts_config UNION ALL SELECT 'pg_ts_dict', oid FROM pg_ts_dict
  UNION ALL SELECT 'pg_opclass', oid FROM pg_opclass UNION ALL SELECT 'pg_opfamily', oid FROM pg_opfamily
  UNION ALL SELECT 'pg_statistic_ext', oid FROM pg_statistic_ext UNION ALL SELECT 'pg_language', oid FROM pg_language
  UNION ALL SELECT 'pg_event_trigger', oid FROM pg_event_trigger
  UNION ALL SELECT 'pg_publication', oid FROM pg_publication
  UNION ALL SELECT 'pg_foreign_data_wrapper', oid FROM pg_foreign_data_wrapper
  UNION ALL SELECT 'pg_foreign_server', oid FROM pg_foreign_server
  UNION ALL SELECT 'pg_rewrite', oid FROM pg_rewrite WHERE rulename <> '_RETURN') o,
  pg_identify_object(o.cls, o.oid, 0) i
WHERE o.oid >= {FIRST_USER_OID}
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = o.cls AND e.objid = o.oid AND e.deptype = 'e')
"""


def snapshot(conn: psycopg.Connection[Any], exclude: Sequence[str] = (), *, rows: bool = False) -> dict[str, str]:
    """The catalog of the database ``conn`` is connected to, as a mapping sorted by key from each object of the
    user's schemas (every schema but ``pg_catalog``, ``information_schema`` and ``pg_*``) to its description:
    schemas; tables, views, materialized views, sequences and composite types with their columns (type,
    collation, not null, default, identity, generated) and column order, constraints, indexes, triggers, row
    level security policies and grants (table and column); functions and procedures; enums, domains, ranges;
    extensions; default privileges; comments; and the existence of rules, casts, operators, collations, text
    search objects, statistics objects, event triggers, publications and foreign servers.

    ``exclude`` names tables (``schema.table``) left out with their indexes and owned sequences, e.g. the
    history table. With ``rows``, each table's row count is an entry too (one ``count(*)`` per table, in one
    query). Read-only: a handful of catalog queries in one transaction (a savepoint inside the caller's).
    """
    cur = conn.cursor(row_factory=tuple_row)
    names = [TableName.parse(name).ident.as_string(conn) for name in exclude]
    out: dict[str, str] = {}
    with conn.transaction():
        # Until the end of this transaction only: a caller's own transaction gets its search_path back below.
        cur.execute("SELECT current_setting('search_path'), set_config('search_path', 'pg_catalog', true)")
        search_path = _one(cur)
        excluded = _one(cur.execute(_EXCLUDED, (names,)))
        schemas = {oid: key for oid, key, _ in _add(out, cur.execute(_SCHEMAS))}
        rels: dict[int, str] = {}
        tables: list[tuple[str, str, str]] = []
        for oid, kind, nspname, relname, key, desc in cur.execute(_RELATIONS, (excluded,)):
            rels[oid] = key
            if kind != "c":  # a composite type's own entry comes from pg_type, with its owner and grants
                out[key] = desc
            if kind == "r":
                tables.append((key, nspname, relname))
        _columns(out, rels, cur.execute(_COLUMNS))
        functions = {oid: key for oid, key, _ in _add(out, cur.execute(_FUNCTIONS))}
        types: dict[int, str] = {}
        for oid, key, desc in cur.execute(_TYPES):
            types[oid] = key
            out[key] = desc
        for parent, kind, name, desc in cur.execute(_PARTS):
            if parent in rels or parent in types:
                out[f"{rels.get(parent) or types[parent]} {kind} {name}"] = desc
        owners = {"rel": rels, "col": rels, "ns": schemas, "fn": functions, "type": types}
        grants: dict[str, list[str]] = defaultdict(list)
        for kind, oid, col, grantee, privilege, grantable in cur.execute(_GRANTS):
            if oid in owners[kind]:
                where = f"{owners[kind][oid]} column {col}" if col else owners[kind][oid]
                grants[f"{where} grant to {grantee}"].append(privilege + (" with grant option" if grantable else ""))
        out.update((key, ", ".join(sorted(privileges))) for key, privileges in grants.items())
        out.update(cur.execute(_MISC, (excluded,)).fetchall())
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
    return [(f"{tables[i][0]} rows", str(count)) for i, count in cur.execute(query)]


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The differences between two snapshots, one line per object in key order: ``+ KEY DESCRIPTION`` for an
    object only in ``after``, ``- KEY DESCRIPTION`` for one only in ``before``, and ``~ KEY before: … after: …``
    for one described differently. An added or removed object's own parts (a table's columns, indexes, grants)
    are folded into its line as a count. Pure; an empty list means the snapshots are equal."""
    gone = before.keys() - after.keys()
    new = after.keys() - before.keys()
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if key in gone or key in new:
            side, sign, value = (gone, "-", before[key]) if key in gone else (new, "+", after[key])
            if any(key[:i] in side for i, char in enumerate(key) if char == " "):
                continue  # folded into its parent's line
            parts = sum(1 for other in side if other.startswith(key + " "))
            line = f"{sign} {key}" + (f" {value}" if value else "")
            lines.append(line + (f" ({parts} more under it)" if parts else ""))
        elif before[key] != after[key]:
            lines.append(f"~ {key} before: {before[key]} after: {after[key]}")
    return lines
