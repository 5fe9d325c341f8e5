"""The safety rules ``SQM4xx``: statements that fail in a migration's transaction (``SQM402``, ``SQM406``,
``SQM407``, ``SQM416``, ``SQM417``), that lose security (``SQM419``, :mod:`sqlmig.lint.definer`), that hide DDL
from lint (``SQM418``, :mod:`sqlmig.lint.doblock`), that lock a table, view or index for maintenance
(``SQM421``-``SQM423``, :mod:`sqlmig.lint.upkeep`), or that lock, rewrite or change a table other sessions are
using (the rest, in :mod:`sqlmig.lint.live`). :func:`safety` is the one entry: it checks a statement and then notes
in the file's state what later statements depend on. Pure: works on pglast syntax trees, no files, no database.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterSubscriptionType, AlterTableType, ObjectType, ReindexObjectType

from ..sqltree import walk
from . import live, upkeep
from .definer import definer
from .definer import learn as learn_functions
from .doblock import do_block
from .facts import ENUM, SLOTLESS, learn, noted
from .rules import FileState, Hit

_NO_TRANSACTION_HINT = (
    "add '-- sqlmig: no-transaction' at the top of the file, so that it runs statement by statement; keep its "
    "statements safe to repeat (IF NOT EXISTS), since a failure leaves the ones before it applied"
)
_REINDEX = {
    ReindexObjectType.REINDEX_OBJECT_SCHEMA: "REINDEX SCHEMA",
    ReindexObjectType.REINDEX_OBJECT_SYSTEM: "REINDEX SYSTEM",
    ReindexObjectType.REINDEX_OBJECT_DATABASE: "REINDEX DATABASE",
}
_PUBLICATION = {
    AlterSubscriptionType.ALTER_SUBSCRIPTION_SET_PUBLICATION,
    AlterSubscriptionType.ALTER_SUBSCRIPTION_ADD_PUBLICATION,
    AlterSubscriptionType.ALTER_SUBSCRIPTION_DROP_PUBLICATION,
}


def safety(stmt: Any, state: FileState) -> list[Hit]:
    """The ``SQM4xx`` rules ``stmt`` breaks, given what its file did before it (``state``); then records in
    ``state`` what ``stmt`` does that the rules on later statements depend on."""
    hits = _check(stmt, state)
    if state.transactional and not isinstance(stmt, ast.AlterEnumStmt) and any(f[0] == ENUM for f in state.facts):
        hits += _new_enum_value(stmt, state)
    learn(stmt, state)
    learn_functions(stmt, state)
    return hits


def _check(stmt: Any, state: FileState) -> list[Hit]:
    if isinstance(stmt, ast.IndexStmt):
        return _in_transaction("CREATE INDEX CONCURRENTLY", state) if stmt.concurrent else live.index(stmt, state)
    if isinstance(stmt, ast.DropStmt):
        if stmt.concurrent:
            return _in_transaction("DROP INDEX CONCURRENTLY", state)
        return live.drop_index(stmt, state) if stmt.removeType == ObjectType.OBJECT_INDEX else []
    if isinstance(stmt, ast.ReindexStmt):
        if any(_switched_on(p, "concurrently") for p in stmt.params or ()):
            return _in_transaction("REINDEX CONCURRENTLY", state)
        return _not_in_block(_REINDEX.get(stmt.kind) if stmt.kind is not None else None, state) or upkeep.reindex(
            stmt, state
        )
    if isinstance(stmt, ast.RefreshMatViewStmt):
        return upkeep.refresh(stmt, state)
    if isinstance(stmt, ast.ClusterStmt) and stmt.relation is not None:
        return upkeep.cluster(stmt, state)
    if isinstance(stmt, ast.AlterTableStmt):
        hits = []
        for cmd in stmt.cmds or ():
            if cmd.subtype == AlterTableType.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
                hits += _in_transaction("DETACH PARTITION … CONCURRENTLY", state)
        return hits + live.alter(stmt, state)
    if isinstance(stmt, ast.RenameStmt):
        return live.rename(stmt, state)
    if isinstance(stmt, (ast.UpdateStmt, ast.DeleteStmt)):
        return live.backfill(stmt, state)
    if isinstance(stmt, ast.DoStmt):
        return do_block(stmt, state)
    if isinstance(stmt, (ast.CreateFunctionStmt, ast.AlterFunctionStmt)):
        return definer(stmt, state)
    if isinstance(stmt, ast.VacuumStmt) and stmt.is_vacuumcmd:
        return [
            Hit(
                "SQM406",
                "VACUUM is maintenance, not a schema change, and cannot run inside a transaction",
                "leave it to autovacuum or a maintenance job; to refresh the statistics after a backfill, ANALYZE "
                "(which may run in a migration) is enough",
            )
        ]
    if isinstance(stmt, ast.AlterSystemStmt):
        return [
            Hit(
                "SQM407",
                "ALTER SYSTEM changes the server's configuration for every database, and cannot run inside a "
                "transaction",
                "configure the server outside migrations (postgresql.conf, your provider's settings); for this "
                "database use ALTER DATABASE … SET, for a role ALTER ROLE … SET",
            )
        ]
    return _not_in_block(_needs_no_block(stmt, state), state)


def _switched_on(option: Any, name: str) -> bool:
    """Whether ``option`` is the option ``name`` switched on (a bare option, or true/on/1)."""
    if not isinstance(option, ast.DefElem) or option.defname != name:
        return False
    value = getattr(option.arg, "sval", None) or getattr(option.arg, "ival", None)
    if isinstance(option.arg, ast.Boolean):
        return bool(option.arg.boolval)
    return option.arg is None or str(value).lower() not in ("false", "off", "0", "no")


def _option(options: Any, name: str, default: bool) -> bool:
    """The boolean option ``name`` of a WITH (…) list, or ``default`` when it is not given."""
    given = [o for o in options or () if isinstance(o, ast.DefElem) and o.defname == name]
    return _switched_on(given[-1], name) if given else default


def _in_transaction(what: str, state: FileState) -> list[Hit]:
    if not state.transactional:
        return []
    return [Hit("SQM402", f"{what} cannot run inside a transaction, and this file runs in one", _NO_TRANSACTION_HINT)]


def _not_in_block(what: str | None, state: FileState) -> list[Hit]:
    if what is None or not state.transactional:
        return []
    return [
        Hit("SQM417", f"{what} cannot run inside a transaction block, and this file runs in one", _NO_TRANSACTION_HINT)
    ]


def _needs_no_block(stmt: Any, state: FileState) -> str | None:
    """What ``stmt`` is, in SQL words, when PostgreSQL refuses to run it inside a transaction block."""
    simple = {
        ast.CreatedbStmt: "CREATE DATABASE",
        ast.DropdbStmt: "DROP DATABASE",
        ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
        ast.DropTableSpaceStmt: "DROP TABLESPACE",
    }
    if type(stmt) in simple:
        return simple[type(stmt)]
    if isinstance(stmt, ast.ClusterStmt) and stmt.relation is None:
        return "CLUSTER without a table"
    if isinstance(stmt, ast.AlterDatabaseStmt) and any(o.defname == "tablespace" for o in stmt.options or ()):
        return "ALTER DATABASE … SET TABLESPACE"
    if isinstance(stmt, ast.CreateSubscriptionStmt):
        connect = _option(stmt.options, "connect", True)
        if connect and _option(stmt.options, "create_slot", True):
            return "CREATE SUBSCRIPTION that creates a replication slot (create_slot defaults to true)"
    if isinstance(stmt, ast.AlterSubscriptionStmt):
        if stmt.kind == AlterSubscriptionType.ALTER_SUBSCRIPTION_REFRESH:
            return "ALTER SUBSCRIPTION … REFRESH PUBLICATION"
        if stmt.kind in _PUBLICATION and _option(stmt.options, "refresh", True):
            return "ALTER SUBSCRIPTION … PUBLICATION with refresh (its default)"
    if isinstance(stmt, ast.DropSubscriptionStmt) and not noted(state, SLOTLESS, None, stmt.subname):
        return "DROP SUBSCRIPTION of a subscription that has a replication slot"
    return None


def _new_enum_value(stmt: Any, state: FileState) -> list[Hit]:
    """SQM416 for a string constant that is a value added to an enum type earlier in the transaction."""
    added = {fact[3]: fact for fact in state.facts if fact[0] == ENUM}
    other: set[int] = set()  # constants cast to a type other than the enum: 'value'::text is not the new value
    for node in walk(stmt):
        if isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.A_Const):
            name = getattr((getattr(node.typeName, "names", None) or (None,))[-1], "sval", None)
            if not any(name == fact[2] for fact in added.values()):
                other.add(id(node.arg))
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String) and id(node) not in other:
            fact = added.get(node.val.sval)
            if fact is not None:
                enum = ".".join(n for n in fact[1:3] if n)
                return [
                    Hit(
                        "SQM416",
                        f"'{fact[3]}' was added to the enum {enum} earlier in this transaction, and PostgreSQL "
                        "refuses to use a new enum value before it commits (55P04: unsafe use of new value)",
                        "add the value in a migration of its own, before the one that uses it (or put this file "
                        "under '-- sqlmig: no-transaction', so that each statement commits)",
                    )
                ]
    return []
