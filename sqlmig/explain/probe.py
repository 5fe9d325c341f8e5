"""What one session holds and what the database stores, read between two statements: the relation locks of the
session's own backend and the storage (``relfilenode``) of every user relation; and what changed between two
such readings. :func:`read` touches the server; the rest is pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from .report import LockTaken

# Every relation initdb makes (the catalogs, information_schema, their toast tables) has an OID below
# FirstNormalObjectId. Leaving them out leaves out the AccessShareLocks the reading below takes on pg_class,
# pg_namespace and pg_locks itself, and the catalog locks every DDL statement takes on the way.
FIRST_USER_OID = 16384
# One round trip: the user relations (a toast table is rewritten with its table, which is the one named) and the
# granted relation locks of this backend. Only relation locks: virtualxid and transactionid locks are every
# transaction's own and say nothing about what it blocks.
_READ = """
SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relfilenode, NULL::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND n.nspname !~ '^pg_toast'
UNION ALL
SELECT l.relation, NULL, NULL, l.mode FROM pg_catalog.pg_locks l
WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted AND l.locktype = 'relation' AND l.relation >= 16384
"""
# The lock modes from weakest to strongest, to list the strongest first.
_STRENGTH = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
# What each mode conflicts with: the table of "Explicit Locking" in PostgreSQL's documentation, as indexes into
# _STRENGTH. A mode whose conflicts are a subset of another's that is held on the same relation blocks nobody
# that the other does not already block.
_CONFLICTS = {
    mode: frozenset(_STRENGTH[i] for i in conflicts)
    for mode, conflicts in zip(
        _STRENGTH,
        ((7,), (6, 7), (4, 5, 6, 7), (3, 4, 5, 6, 7), (2, 3, 5, 6, 7), (2, 3, 4, 5, 6, 7), range(1, 8), range(8)),
        strict=True,
    )
}

Lock = tuple[int, str]  # relation OID, mode


@dataclass(frozen=True)
class State:
    """One reading: each user relation's qualified name and relfilenode (0 for one without storage: a view, a
    partitioned table), by OID; and the relation locks held, as (OID, mode)."""

    relations: Mapping[int, tuple[str, int]]
    locks: frozenset[Lock]


def read(conn: psycopg.Connection[Any]) -> State:
    """The relations of ``conn``'s database and the relation locks its own backend holds, as its current
    transaction sees them (one that has not begun sees what is committed). Read-only; raises what the server
    raises."""
    relations: dict[int, tuple[str, int]] = {}
    locks: set[Lock] = set()
    for oid, name, filenode, mode in conn.execute(_READ, prepare=False).fetchall():
        if mode is None:
            relations[int(oid)] = (str(name), int(filenode))
        else:
            locks.add((int(oid), str(mode)))
    return State(relations, frozenset(locks))


def taken(
    held: Iterable[Lock], before: State, after: State, existing: Mapping[int, tuple[str, int]]
) -> tuple[LockTaken, ...]:
    """The locks of ``held`` that ``before.locks`` does not have, named from ``after`` (or from ``before`` for a
    relation the statement dropped). Left out: a lock on a relation found in neither (a toast table, one created and
    dropped by the statement), and a lock that another lock held on the same relation covers (it blocks nobody the
    other does not already block: the ShareLock of a statement that also took AccessExclusiveLock, or took it
    earlier in the transaction). A relation that ``existing`` (the relations when the transaction began) has
    neither by OID nor by name is ``new``. Strongest lock first, the relations that existed before new ones.
    Pure."""
    held = set(held)
    modes: dict[int, set[str]] = {}
    for oid, mode in held | before.locks:
        modes.setdefault(oid, set()).add(mode)
    names = {name for name, _ in existing.values()}
    found: list[LockTaken] = []
    for oid, mode in held - before.locks:
        known = after.relations.get(oid) or before.relations.get(oid)
        if known is not None and not any(_covers(other, mode) for other in modes[oid]):
            found.append(LockTaken(mode, known[0], oid not in existing and known[0] not in names))
    return tuple(sorted(set(found), key=lambda lock: (lock.new, -_strength(lock.mode), lock.relation)))


def rewritten(before: State, after: State) -> tuple[str, ...]:
    """The relations whose storage changed from ``before`` to ``after``, by name, sorted: the same relation with
    another relfilenode (a table rewrite, a TRUNCATE, a REINDEX), or one dropped and built again under the same
    name (the indexes a column's type change rebuilds, REINDEX CONCURRENTLY). Pure."""
    gone = {name for oid, (name, _) in before.relations.items() if oid not in after.relations}
    changed = set()
    for oid, (name, filenode) in after.relations.items():
        old = before.relations.get(oid)
        rebuilt = old is None and name in gone
        if rebuilt or (old is not None and filenode and old[1] and old[1] != filenode):
            changed.add(name)
    return tuple(sorted(changed))


def _covers(stronger: str, mode: str) -> bool:
    """Whether holding ``stronger`` makes ``mode`` on the same relation block nobody more."""
    return (
        stronger != mode and mode in _CONFLICTS and stronger in _CONFLICTS and _CONFLICTS[mode] <= _CONFLICTS[stronger]
    )


def _strength(mode: str) -> int:
    return _STRENGTH.index(mode) if mode in _STRENGTH else len(_STRENGTH)
