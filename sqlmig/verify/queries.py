"""The catalog queries behind :func:`sqlmig.verify.catalog.snapshot`, as SQL text. Pure: nothing here connects.

Each query returns rows of (oid or key, ..., description); a few depend on the server's major version, for
catalog columns that older majors do not have (``attcompression`` and ``prosqlbody`` from 14 on, a publication's
row filter from 15 on).
"""

from __future__ import annotations

# Objects created by users have OIDs from here on; the filter keeps every query off the built-in catalog rows.
FIRST_USER_OID = 16384
# Names starting with pg_ are reserved for the system's schemas (pg_catalog, pg_toast, pg_temp_N, ...).
USER_SCHEMAS = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


def not_extension_member(catalog: str, oid: str) -> str:
    """The condition that the row ``oid`` of ``catalog`` was not created by an extension. Pure."""
    # What an extension created is described by the extension's own entry (name, version, schema).
    where = f"e.classid = '{catalog}'::regclass AND e.objid = {oid} AND e.deptype = 'e'"
    return f"NOT EXISTS (SELECT FROM pg_depend e WHERE {where})"


# The excluded tables (the history table) with their indexes and owned sequences.
EXCLUDED = """
WITH t AS (SELECT to_regclass(x)::oid AS oid FROM unnest(%s::text[]) AS x)
SELECT coalesce(array_agg(oid), '{}') FROM (SELECT oid FROM t WHERE oid IS NOT NULL UNION
  SELECT d.objid FROM pg_depend d JOIN t ON d.refobjid = t.oid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) s
"""
SCHEMAS = f"""
SELECT n.oid, 'schema ' || quote_ident(n.nspname), 'owner ' || quote_ident(pg_get_userbyid(n.nspowner))
FROM pg_namespace n WHERE {USER_SCHEMAS} AND {not_extension_member("pg_namespace", "n.oid")}
"""
RELATIONS = f"""
SELECT c.oid, c.relkind, n.nspname, c.relname,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'type' END
    || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
  concat_ws(', ', 'owner ' || quote_ident(pg_get_userbyid(c.relowner)),
    CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END,
    CASE WHEN c.relrowsecurity THEN 'row level security enabled' END,
    CASE WHEN c.relforcerowsecurity THEN 'row level security forced' END,
    'with (' || array_to_string(c.reloptions, ', ') || ')',
    (SELECT 'with toast (' || array_to_string(tc.reloptions, ', ') || ')' FROM pg_class tc
     WHERE tc.oid = c.reltoastrelid),
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
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid >= {FIRST_USER_OID} AND {USER_SCHEMAS}
  AND c.oid <> ALL(%s::oid[]) AND {not_extension_member("pg_class", "c.oid")}
"""
# A column's own settings, each shown only when it is not the default: its storage (when not its type's),
# compression, statistics target and options (ALTER COLUMN ... SET (n_distinct = ...)). A statistics target of
# NULL (PostgreSQL 17 on) and of -1 (before 17) both mean the default, so an upgrade from 16 to 17 changes nothing.
_COLUMN_SETTINGS = """
  || CASE WHEN a.attstorage <> t.typstorage THEN ' storage ' || CASE a.attstorage WHEN 'p' THEN 'plain'
       WHEN 'e' THEN 'external' WHEN 'm' THEN 'main' ELSE 'extended' END ELSE '' END{compression}
  || CASE WHEN coalesce(a.attstattarget, -1) <> -1 THEN ' statistics ' || a.attstattarget ELSE '' END
  || coalesce(' with (' || array_to_string(a.attoptions, ', ') || ')', '')"""
_COMPRESSION = """
  || CASE a.attcompression WHEN 'p' THEN ' compression pglz' WHEN 'l' THEN ' compression lz4' ELSE '' END"""


def columns(version: int) -> str:
    """The query of every column of the user's relations on a server of ``version`` (``server_version_num``):
    rows of (relation oid, attnum, quoted name, description). Pure."""
    settings = _COLUMN_SETTINGS.format(compression=_COMPRESSION if version >= 140000 else "")
    return f"""
SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
  || coalesce((SELECT ' collate ' || quote_ident(co.collname) FROM pg_collation co
               WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation), '')
  || CASE WHEN a.attnotnull THEN ' not null' || coalesce((SELECT CASE WHEN k.convalidated THEN '' ELSE ' not valid' END
       || CASE WHEN k.connoinherit THEN ' no inherit' ELSE '' END FROM pg_constraint k
       WHERE k.contype = 'n' AND k.conrelid = a.attrelid AND k.conkey[1] = a.attnum), '') ELSE '' END
  || CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
       WHEN 'd' THEN ' generated by default as identity' ELSE '' END{settings}
  || coalesce(' ' || CASE a.attgenerated WHEN 's' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid)
       || ') stored' WHEN 'v' THEN 'generated always as (' || pg_get_expr(d.adbin, d.adrelid) || ') virtual'
       ELSE 'default ' || pg_get_expr(d.adbin, d.adrelid) END, '')
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_class r ON r.oid = a.attrelid AND r.relkind <> 'S'  -- a sequence's columns are the same for all
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid >= {FIRST_USER_OID} AND a.attnum > 0 AND NOT a.attisdropped
"""


# (relation or type oid, kind of entry, name or '', description): everything that hangs off a table or a domain.
# An index says whether CLUSTER uses it and the statistics targets of its (expression) columns; a table's replica
# identity is its own entry, only when it is not the default. Dropping the index of REPLICA IDENTITY USING INDEX
# leaves the setting in place, where PostgreSQL treats it as NOTHING: said so, as a down that forgot it.
_PARTS = f"""
SELECT coalesce(nullif(conrelid, 0), contypid), 'constraint', quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint WHERE oid >= {FIRST_USER_OID} AND contype <> 'n'
UNION ALL SELECT i.indrelid, 'index', quote_ident(c.relname),
  pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (INVALID)' END
  || CASE WHEN i.indisclustered THEN ' (clustered)' ELSE '' END
  || coalesce((SELECT ' (statistics ' || string_agg('column ' || ia.attnum || ' ' || ia.attstattarget, ', '
                                                    ORDER BY ia.attnum) || ')'
               FROM pg_attribute ia WHERE ia.attrelid = i.indexrelid AND coalesce(ia.attstattarget, -1) <> -1), '')
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid >= {FIRST_USER_OID}
UNION ALL SELECT c.oid, 'replica identity', '', CASE c.relreplident WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full'
    ELSE coalesce((SELECT 'using index ' || quote_ident(x.relname) FROM pg_index i JOIN pg_class x
                   ON x.oid = i.indexrelid WHERE i.indrelid = c.oid AND i.indisreplident),
                  'using a dropped index (as nothing)') END
FROM pg_class c WHERE c.oid >= {FIRST_USER_OID} AND c.relkind IN ('r', 'p') AND c.relreplident <> 'd'
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
UNION ALL SELECT r.prrelid, 'publication', quote_ident(p.pubname), 'member{{row_filter}}'
FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
"""
_ROW_FILTER = "' || coalesce(' where ' || pg_get_expr(r.prqual, r.prrelid), '') || '"


def parts(version: int) -> str:
    """The query of what hangs off a relation or a domain on a server of ``version``: rows of (owner oid, kind,
    quoted name or '', description). Pure."""
    return _PARTS.format(row_filter=_ROW_FILTER if version >= 150000 else "")


# A function is described on several lines: a summary (the line shown when it is added or removed), then one
# ``name: value`` line per attribute, then its body after ``body:``. sqlmig.verify.changes reads them back to
# say which attributes changed. An aggregate, which has no definition to show, is its summary alone.
_FUNCTIONS = f"""
SELECT p.oid, CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function'
    ELSE 'function' END || ' ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
    || '(' || pg_get_function_identity_arguments(p.oid) || ')',
  concat_ws(E'\\n',
    concat_ws(', ', 'owner ' || f.owner, 'returns ' || f.result, 'language ' || f.language),
    CASE WHEN p.prokind <> 'a' THEN concat_ws(E'\\n', 'owner: ' || f.owner, 'returns: ' || f.result,
      'arguments: ' || nullif(pg_get_function_arguments(p.oid), ''), 'language: ' || f.language,
      'volatility: ' || CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
      'strict: ' || CASE WHEN p.proisstrict THEN 'yes' ELSE 'no' END,
      'security: ' || CASE WHEN p.prosecdef THEN 'DEFINER' ELSE 'INVOKER' END,
      'leakproof: ' || CASE WHEN p.proleakproof THEN 'yes' ELSE 'no' END,
      'parallel: ' || CASE p.proparallel WHEN 's' THEN 'SAFE' WHEN 'r' THEN 'RESTRICTED' ELSE 'UNSAFE' END,
      'cost: ' || p.procost, CASE WHEN p.proretset THEN 'rows: ' || p.prorows END,
      (SELECT string_agg('SET ' || split_part(x, '=', 1) || ': ' || substr(x, strpos(x, '=') + 1), E'\\n' ORDER BY x)
       FROM unnest(p.proconfig) AS x),
      'library: ' || p.probin, E'body:\\n' || {{body}}) END)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
  LATERAL (SELECT quote_ident(pg_get_userbyid(p.proowner)) AS owner, pg_get_function_result(p.oid) AS result,
    (SELECT quote_ident(l.lanname) FROM pg_language l WHERE l.oid = p.prolang) AS language) f
WHERE p.oid >= {FIRST_USER_OID} AND {USER_SCHEMAS} AND {not_extension_member("pg_proc", "p.oid")}
"""


def functions(version: int) -> str:
    """The query of the user's functions, procedures and aggregates on a server of ``version``: rows of (oid,
    key, description). A body written as SQL (``BEGIN ATOMIC``, PostgreSQL 14 on) is shown as the server
    prints it. Pure."""
    standard = "CASE WHEN p.prosqlbody IS NULL THEN p.prosrc ELSE pg_get_function_sqlbody(p.oid) END"
    return _FUNCTIONS.format(body=standard if version >= 140000 else "p.prosrc")


TYPES = f"""
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
WHERE t.oid >= {FIRST_USER_OID} AND {USER_SCHEMAS} AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT FROM pg_type a WHERE a.typarray = t.oid) AND {not_extension_member("pg_type", "t.oid")}
"""
# A missing ACL means the owner's default privileges: compared as those, so that GRANT then REVOKE is no change.
GRANTS = f"""
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
MISC = f"""
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
