"""The files the benchmark runs: migration trees, templated trees and their pre-rendered twins, big seeds, and
the psql floor's scripts.

Trees are generated once into ``bench/.cache/`` (gitignored) and reused by later runs; a tree counts as complete
only once its marker file is written, so an interrupted generation is redone. Nothing here is timed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
# Bump when a generator's output changes, so that cached trees are rebuilt.
GENERATOR_VERSION = "1"
MARKER = ".complete"
FIRST_VERSION = datetime(2024, 1, 1)
MIB = 1024 * 1024
ROWS_PER_INSERT = 1000
SCHEMA = "bench"
LABEL = "x"
# Jinja2 quotes exactly so: `ident` always double-quotes, `literal` single-quotes.
RENDERED = {"{{ schema | ident }}": f'"{SCHEMA}"', "{{ label | literal }}": f"'{LABEL}'"}
_PAYLOAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 3


def cached(name: str, build: Callable[[Path], None]) -> Path:
    """The cached tree ``name``, built by ``build(path)`` unless a complete one of this generator version exists."""
    path = CACHE / name
    marker = path / MARKER
    if marker.exists() and marker.read_text() == GENERATOR_VERSION:
        return path
    shutil.rmtree(path, ignore_errors=True)
    partial = CACHE / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build(partial)
    (partial / MARKER).write_text(GENERATOR_VERSION)
    partial.rename(path)
    return path


def version(i: int) -> str:
    """The ``YYYYMMDD_HHMMSS`` prefix of migration ``i``: one second after the previous one."""
    return (FIRST_VERSION + timedelta(seconds=i)).strftime("%Y%m%d_%H%M%S")


def _ddl(i: int) -> str:
    """Migration ``i`` of the apply workloads: a schema, then tables with an index, every third an ALTER."""
    if i == 0:
        return f"CREATE SCHEMA {SCHEMA};\n"
    if i % 3 == 0:
        return f"ALTER TABLE {SCHEMA}.t_{i - 1} ADD COLUMN extra integer;\n"
    return (
        f"CREATE TABLE {SCHEMA}.t_{i} (id bigint PRIMARY KEY, name text NOT NULL);\n"
        f"CREATE INDEX t_{i}_name ON {SCHEMA}.t_{i} (name);\n"
    )


def _template(i: int) -> str:
    """Migration ``i`` of the render workload: the schema and label come from ``--schema`` and ``--var``."""
    if i == 0:
        return "CREATE SCHEMA {{ schema | ident }};\n"
    return (
        f"CREATE TABLE {{{{ schema | ident }}}}.t_{i} (id bigint PRIMARY KEY, label text DEFAULT "
        "{{ label | literal }});\n"
        f"CREATE INDEX t_{i}_label ON {{{{ schema | ident }}}}.t_{i} (label);\n"
    )


def _render(text: str) -> str:
    for placeholder, value in RENDERED.items():
        text = text.replace(placeholder, value)
    return text


def _write_migrations(root: Path, n: int, body: Callable[[int], str]) -> None:
    migrate = root / "migrations" / "migrate"
    migrate.mkdir(parents=True)
    for i in range(n):
        (migrate / f"{version(i)}_m{i}.up.sql").write_text(body(i))


def apply_tree(n: int) -> Path:
    """A ``migrations/`` folder of ``n`` small DDL migrations (used by the apply, noop and concurrent workloads)."""
    return cached(f"apply-{n}", lambda root: _write_migrations(root, n, _ddl)) / "migrations"


def render_trees(n: int) -> tuple[Path, Path]:
    """``n`` templated migrations, and the same files rendered by plain string replacement (for the floor)."""

    def build(root: Path) -> None:
        _write_migrations(root / "templated", n, _template)
        _write_migrations(root / "rendered", n, lambda i: _render(_template(i)))

    root = cached(f"render-{n}", build)
    return root / "templated" / "migrations", root / "rendered" / "migrations"


def _insert_chunks(rows: Iterator[tuple[int, str, str]]) -> Iterator[str]:
    batch: list[str] = []
    for row_id, name, payload in rows:
        batch.append(f"({row_id}, '{name}', '{payload}')")
        if len(batch) == ROWS_PER_INSERT:
            yield "INSERT INTO bench.seed (id, name, payload) VALUES\n" + ",\n".join(batch) + ";\n"
            batch = []
    if batch:
        yield "INSERT INTO bench.seed (id, name, payload) VALUES\n" + ",\n".join(batch) + ";\n"


def _copy_chunks(rows: Iterator[tuple[int, str, str]]) -> Iterator[str]:
    yield "COPY bench.seed (id, name, payload) FROM stdin;\n"
    batch: list[str] = []
    for row_id, name, payload in rows:
        batch.append(f"{row_id}\t{name}\t{payload}\n")
        if len(batch) == ROWS_PER_INSERT:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + "\\.\n"


def _rows(count: int) -> Iterator[tuple[int, str, str]]:
    """About 100 bytes each as SQL text."""
    for i in range(1, count + 1):
        start = i % 64
        yield i, f"name-{i:08d}", _PAYLOAD[start : start + 72]


def _write_chunks(path: Path, chunks: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for chunk in chunks:
            out.write(chunk)


def seed_tree(kind: str, mib: int) -> Path:
    """A ``migrations/`` folder whose migrate/ creates ``bench.seed`` and whose seed/ holds one file of about
    ``mib`` MiB: multi-row INSERTs of 1000 rows (``kind="insert"``) or one pg_dump-style COPY (``"copy"``)."""
    if kind not in ("insert", "copy"):
        raise ValueError(f"unknown seed kind {kind!r}")
    # The row count that gives about the wanted size, measured on a sample.
    sample = "".join(_insert_chunks(_rows(ROWS_PER_INSERT)) if kind == "insert" else _copy_chunks(_rows(1000)))
    count = max(1, round(mib * MIB / (len(sample.encode()) / 1000)))

    def build(root: Path) -> None:
        migrations = root / "migrations"
        (migrations / "migrate").mkdir(parents=True)
        (migrations / "seed").mkdir()
        (migrations / "migrate" / f"{version(0)}_create_seed.up.sql").write_text(
            f"CREATE SCHEMA {SCHEMA};\nCREATE TABLE {SCHEMA}.seed (id bigint, name text, payload text);\n"
        )
        chunks = _insert_chunks(_rows(count)) if kind == "insert" else _copy_chunks(_rows(count))
        _write_chunks(migrations / "seed" / f"{version(1)}_seed_{kind}.up.sql", chunks)

    return cached(f"seed-{kind}-{mib}MB", build) / "migrations"


def warmup_tree() -> Path:
    """A tiny tree that goes through every code path the workloads use (templates, COPY seeds), run untimed first
    so that module compilation and cold caches are not charged to the first timed run."""

    def build(root: Path) -> None:
        migrations = root / "migrations"
        (migrations / "migrate").mkdir(parents=True)
        (migrations / "seed").mkdir()
        (migrations / "migrate" / f"{version(0)}_warmup.up.sql").write_text(
            "CREATE SCHEMA {{ schema | ident }};\n"
            "CREATE TABLE {{ schema | ident }}.seed (id bigint, name text,\n"
            "    payload text DEFAULT {{ label | literal }});\n"
        )
        (migrations / "seed" / f"{version(1)}_warmup.up.sql").write_text("".join(_copy_chunks(_rows(3))))

    return cached("warmup", build) / "migrations"


def up_files(migrations: Path, track: str = "migrate") -> list[Path]:
    """The ``.up.sql`` files of ``track``, in the order they run (their names sort by version)."""
    return sorted((migrations / track).glob("*.up.sql"))


def floor_script(files: Iterable[Path], out: Path) -> Path:
    """Write the psql floor's script: each file in its own transaction with its history row, as sqlmig does."""
    lines: list[str] = []
    for path in files:
        name = path.name.removesuffix(".up.sql")
        lines += [
            "BEGIN;",
            f"\\i '{path.resolve()}'",
            f"INSERT INTO public.floor_history (name) VALUES ('{name}');",
            "COMMIT;",
        ]
    out.write_text("\n".join(lines) + "\n")
    return out
