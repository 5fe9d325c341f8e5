"""The files of the fan-out workloads: one tree of small templated migrations, the tenant schemas' names and the
query that lists them, and the psql floor's scripts, one per schema, pre-rendered for that schema.

Like every generated tree, these are cached in ``bench/.cache/`` and reused (see :mod:`bench.workloads`); nothing
here is timed.
"""

from __future__ import annotations

from pathlib import Path

from .workloads import cached, up_files, version

PREFIX = "tenant_"
DIGITS = 5  # tenant_00001 … tenant_99999: names sort in the order they were made
FLOOR_HISTORY = "public.floor_history_targets"
# Jinja2's `ident` always double-quotes, so plain replacement renders exactly what sqlmig runs.
PLACEHOLDER = "{{ schema | ident }}"


def schemas(n: int) -> list[str]:
    """The names of ``n`` tenant schemas: ``tenant_00001`` to ``tenant_<n>``."""
    return [f"{PREFIX}{i:0{DIGITS}d}" for i in range(1, n + 1)]


def schemas_query(n: int) -> str:
    """The ``--schemas-from`` query that returns :func:`schemas` ``(n)``, in order. It reads no table: from an
    empty database the schemas do not exist yet, and sqlmig runs the query read-only."""
    return f"SELECT '{PREFIX}' || lpad(i::text, {DIGITS}, '0') FROM generate_series(1, {n}) AS i ORDER BY 1"


def template(i: int) -> str:
    """Migration ``i`` of a fan-out target: its schema, then tables with an index, every third an ALTER (the
    apply workloads' files, with the schema from the template context)."""
    if i == 0:
        return f"CREATE SCHEMA {PLACEHOLDER};\n"
    if i % 3 == 0:
        return f"ALTER TABLE {PLACEHOLDER}.t_{i - 1} ADD COLUMN extra integer;\n"
    return (
        f"CREATE TABLE {PLACEHOLDER}.t_{i} (id bigint PRIMARY KEY, name text NOT NULL);\n"
        f"CREATE INDEX t_{i}_name ON {PLACEHOLDER}.t_{i} (name);\n"
    )


def render(text: str, schema: str) -> str:
    """``text`` with the schema placeholder replaced by ``schema`` quoted as ``ident`` quotes it."""
    return text.replace(PLACEHOLDER, f'"{schema}"')


def tree(per_target: int) -> Path:
    """A ``migrations/`` folder of ``per_target`` templated migrations, which every fan-out target runs."""

    def build(root: Path) -> None:
        migrate = root / "migrations" / "migrate"
        migrate.mkdir(parents=True)
        for i in range(per_target):
            (migrate / f"{version(i)}_m{i}.up.sql").write_text(template(i))

    return cached(f"fanout-x{per_target}", build) / "migrations"


def floor_script(migrations: Path, schema: str) -> str:
    """The psql floor's script for one schema: each file rendered for it, in its own transaction with its history
    row (in :data:`FLOOR_HISTORY`, with the target), as a fan-out target runs it."""
    lines: list[str] = []
    for path in up_files(migrations):
        name = path.name.removesuffix(".up.sql")
        lines += [
            "BEGIN;",
            render(path.read_text(), schema).rstrip("\n"),
            f"INSERT INTO {FLOOR_HISTORY} (target, name) VALUES ('{schema}', '{name}');",
            "COMMIT;",
        ]
    return "\n".join(lines) + "\n"


def floor_scripts(n: int, per_target: int) -> Path:
    """The folder of the psql floor's scripts for ``n`` schemas of :func:`tree` ``(per_target)``, one
    ``<schema>.sql`` each."""
    migrations = tree(per_target)

    def build(root: Path) -> None:
        for schema in schemas(n):
            (root / f"{schema}.sql").write_text(floor_script(migrations, schema))

    return cached(f"fanout-{n}x{per_target}-floor", build)


def floor_list(scripts: Path, out: Path) -> Path:
    """Write ``out``: the absolute paths of the scripts in ``scripts``, one a line and in schema order, for
    ``xargs -a``. Written at run time, since a cached folder is built elsewhere and then renamed."""
    paths = sorted(str(p.resolve()) for p in scripts.glob(f"{PREFIX}*.sql"))
    out.write_text("\n".join(paths) + "\n")
    return out
