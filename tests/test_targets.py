"""sqlmig.targets: schema lists, --schemas-from rows, [tool.sqlmig.targets] and shards, as rows of input -> result
or refusal. No server."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sqlmig.errors import ConfigError
from sqlmig.targets import (
    Shard,
    Target,
    TargetsConfig,
    parse_schemas,
    parse_shard,
    shard_of,
    targets_config,
    targets_from_rows,
)

ROOT = Path(__file__).parent.parent
LONGEST = "s" * 63
EURO_63 = "€" * 21  # 3 bytes of UTF-8 each: 63 bytes in 21 characters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b, c", ("a", "b", "c")),
        ("  tenant_a  ", ("tenant_a",)),
        ("b,a", ("b", "a")),
        ("A,a", ("A", "a")),
        ('Tenant-1, x"; DROP', ("Tenant-1", 'x"; DROP')),
        ("a b,\tc\n", ("a b", "c")),
        (f"{LONGEST},{EURO_63}", (LONGEST, EURO_63)),
    ],
    ids=["spaces", "one", "order kept", "case sensitive", "any character", "inner space kept", "63 bytes"],
)
def test_parse_schemas(text: str, expected: tuple[str, ...]) -> None:
    assert parse_schemas(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--schemas: an empty schema name; give names separated by single commas, e.g. a,b,c"),
        ("a,,b", "an empty schema name"),
        ("a,", "an empty schema name"),
        (" , ", "an empty schema name"),
        ("a,b,a", "--schemas: schema 'a' is listed twice; list each schema once"),
        ("a, a", "schema 'a' is listed twice"),
        ("s" * 64, f"schema name '{'s' * 64}' is longer than PostgreSQL's 63-byte identifier limit (64 bytes"),
        ("é" * 32, "63-byte identifier limit (64 bytes of UTF-8); shorten it"),
        ("a\x00b", "contains a NUL character"),
    ],
    ids=["empty", "empty inside", "trailing comma", "blank", "duplicate", "duplicate after strip", "64 bytes",
         "64 bytes in 32 characters", "NUL"],
)  # fmt: skip
def test_parse_schemas_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_schemas(text)
    assert message in str(info.value)


def test_parse_schemas_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^SQLMIG_SCHEMAS: schema 'a' is listed twice"):
        parse_schemas("a,a", source="SQLMIG_SCHEMAS")


@pytest.mark.parametrize(
    ("columns", "rows", "expected"),
    [
        (["nspname"], [("a",), ("b",)], (Target("a"), Target("b"))),
        (["nspname"], [], ()),
        (
            ["s", "region", "Tier_2"],
            [("b", "eu", 1), ("a", "us", Decimal("2.50"))],
            (Target("b", {"region": "eu", "Tier_2": "1"}), Target("a", {"region": "us", "Tier_2": "2.50"})),
        ),
        (["schema"], [('x"; DROP',), ("Tenant-1",)], (Target('x"; DROP'), Target("Tenant-1"))),
        (["s", "_x"], [("a", "")], (Target("a", {"_x": ""}),)),
    ],
    ids=["schemas only", "no rows", "variables as text in row order", "first column any name", "empty value"],
)
def test_targets_from_rows(columns: list[str], rows: list[tuple[object, ...]], expected: tuple[Target, ...]) -> None:
    assert targets_from_rows(columns, rows) == expected
    assert [t.vars for t in targets_from_rows(columns, rows)] == [t.vars for t in expected]


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [
        ([], [], "--schemas-from: the query returned no columns; its first column must be the schema name"),
        (["s", "1x"], [], "column '1x' is not a template variable name ([A-Za-z_][A-Za-z0-9_]*); rename it"),
        (["s", "tenant-id"], [], "column 'tenant-id' is not a template variable name"),
        (["s", "région"], [], "column 'région' is not a template variable name"),
        (["s", ""], [], "column '' is not a template variable name"),
        (["s", "x\n"], [], "column 'x\\n' is not a template variable name"),
        (["s", "schema"], [], "column 'schema' is a name templates already use; rename it in the query"),
        (["s", "env"], [], "column 'env' is a name templates already use"),
        (["s", "x", "x"], [], "column 'x' appears twice; give each column its own name"),
        (["s", "x"], [("a",)], "a row has 1 values for 2 columns"),
        (["nspname"], [(None,)], "a row's schema ('nspname') is NULL; filter NULLs out in the query"),
        (["nspname"], [(7,)], "the schema column 'nspname' must be text; cast it with ::text"),
        (["nspname"], [("",)], "--schemas-from: an empty schema name; filter empty names out in the query"),
        (["nspname"], [("a",), ("b",), ("a",)], "--schemas-from: schema 'a' is listed twice"),
        (["nspname"], [("s" * 64,)], "longer than PostgreSQL's 63-byte identifier limit"),
        (["s", "region"], [("a", "eu"), ("b", None)], "column 'region' is NULL for schema 'b'; give it a value"),
    ],
    ids=["no columns", "leading digit", "hyphen", "non-ASCII", "empty column name", "trailing newline", "schema",
         "env", "duplicate column", "short row", "NULL schema", "schema not text", "empty schema",
         "duplicate schema", "schema too long", "NULL variable"],
)  # fmt: skip
def test_targets_from_rows_refuses(columns: list[str], rows: list[tuple[object, ...]], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        targets_from_rows(columns, rows)
    assert message in str(info.value)


def test_a_target_is_immutable_hashable_and_picklable() -> None:
    given = {"region": "eu"}
    target = Target("a", given)
    given["region"] = "us"
    assert target.vars == {"region": "eu"}
    assert Target("a").vars == {} and Target("a") != target
    assert {target, Target("a", {"region": "eu"}), Target("b")} == {target, Target("b")}
    assert pickle.loads(pickle.dumps(target)) == target  # noqa: S301 (its own bytes, a runner's worker processes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1/1", Shard(1, 1)),
        ("2/4", Shard(2, 4)),
        ("4/4", Shard(4, 4)),
        (" 3 / 7 ", Shard(3, 7)),
        ("01/10", Shard(1, 10)),
    ],
    ids=["one of one", "middle", "last", "spaces", "leading zero"],
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--shard expects INDEX/COUNT, got ''; give INDEX/COUNT with 1 <= INDEX <= COUNT, e.g. --shard 2/4"),
        ("2", "--shard expects INDEX/COUNT, got '2'"),
        ("a/b", "got 'a/b'"),
        ("-1/4", "got '-1/4'"),
        ("1.5/4", "got '1.5/4'"),
        ("2/4/6", "got '2/4/6'"),
        ("2/4x", "got '2/4x'"),
        ("٢/٤", "got '٢/٤'"),
        ("1/" + "9" * 5000, "--shard expects INDEX/COUNT"),
        ("0/4", "--shard 0/4 does not exist; give INDEX/COUNT with 1 <= INDEX <= COUNT, e.g. --shard 2/4"),
        ("5/4", "--shard 5/4 does not exist"),
        ("1/0", "--shard 1/0 does not exist"),
        ("0/0", "--shard 0/0 does not exist"),
    ],
    ids=["empty", "no count", "letters", "negative", "fraction", "three parts", "trailing text", "non-ASCII digits",
         "huge", "index zero", "index past count", "count zero", "zero of zero"],
)  # fmt: skip
def test_parse_shard_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shard(text)
    assert message in str(info.value)


def test_a_shard_cannot_be_built_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"--shard 3/2 does not exist"):
        Shard(3, 2)


# Pinned: a change to the assignment would move every fleet's targets to other machines. Checked by hand with
# `printf %s tenant_a | sha256sum`: the first 16 hex digits as an integer, modulo N, plus one.
PINNED = {
    "tenant_a": [1, 1, 1, 3, 4],
    "tenant_b": [1, 2, 1, 4, 4],
    "tenant_c": [1, 2, 2, 4, 3],
    "public": [1, 1, 1, 3, 5],
    "Tenant-1": [1, 1, 2, 3, 7],
    'x"; DROP': [1, 2, 1, 2, 2],
    "é": [1, 2, 1, 4, 4],
}


@pytest.mark.parametrize("name", PINNED)
def test_the_shard_of_a_name_is_pinned(name: str) -> None:
    assert [shard_of(name, count) for count in (1, 2, 3, 4, 7)] == PINNED[name]
    assert [Shard(PINNED[name][3], 4).select([Target(name)])] == [(Target(name),)]


def test_the_assignment_is_the_same_in_every_process() -> None:
    """``hash()`` would differ between processes with different PYTHONHASHSEED; the assignment must not."""
    code = "from sqlmig.targets import shard_of; print([shard_of(n, 7) for n in ('tenant_a', 'Tenant-1', 'é')])"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}, check=True,
            capture_output=True, text=True,
        ).stdout
        for seed in ("1", "2", "3")
    }  # fmt: skip
    assert outputs == {"[4, 7, 4]\n"}


def generated_names(count: int, seed: int) -> list[str]:
    """``count`` distinct schema names of mixed shapes: tenant names, case, punctuation, non-ASCII."""
    rng = random.Random(seed)
    alphabet = "abcXYZ_-0189 \"'é€中"
    names: dict[str, None] = {}
    while len(names) < count:
        names["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))] = None
    return list(names)


@pytest.mark.parametrize("count", range(1, 8))
def test_shards_split_every_target_once_in_order_and_stay_put(count: int) -> None:
    targets = [Target(name) for name in generated_names(200, seed=count)]
    shards = [Shard(index, count).select(targets) for index in range(1, count + 1)]
    chosen = [t for shard in shards for t in shard]
    assert len(chosen) == len(targets) and set(chosen) == set(targets)  # every target, each exactly once
    assert all(list(shard) == [t for t in targets if t in shard] for shard in shards)  # input order kept
    assert all(shards)  # no shard left idle: the names spread
    more = list(targets)
    for n, name in enumerate(generated_names(260, seed=100 + count)[200:]):
        if Target(name) not in more:
            more.insert(n * 7, Target(name))  # before, between and after the old ones
    for index, before in enumerate(shards, start=1):
        after = Shard(index, count).select(more)
        assert [t for t in after if t in targets] == list(before)  # adding targets moves none of the old ones
        fewer = targets[::2]
        assert Shard(index, count).select(fewer) == tuple(t for t in before if t in fewer)  # nor does removing some


def test_a_shard_keeps_each_target_s_variables() -> None:
    target = Target("tenant_b", {"region": "eu"})
    assert Shard(4, 4).select([Target("tenant_a"), target])[0].vars == {"region": "eu"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"schemas": ["tenant_a", "Tenant-1"]}, TargetsConfig(schemas=("tenant_a", "Tenant-1"))),
        ({"schemas_from": "SELECT nspname FROM n"}, TargetsConfig(schemas_from="SELECT nspname FROM n")),
    ],
    ids=["schemas", "schemas_from"],
)  # fmt: skip
def test_targets_config(table: dict[str, object], expected: TargetsConfig) -> None:
    assert targets_config(table, "/p/pyproject.toml") == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "needs schemas (a list of names) or schemas_from (a query returning them)"),
        ({"schemas": ["a"], "schemas_from": "SELECT 'a'"}, "has both schemas and schemas_from; keep one"),
        ({"schemas": ["a"], "jobs": 4}, "has unknown key(s) jobs; known: schemas, schemas_from"),
        ({"schema": "a"}, "has unknown key(s) schema"),
        ({"schemas": "a,b"}, 'schemas must be a non-empty list of schema names, e.g. ["tenant_a", "tenant_b"]'),
        ({"schemas": []}, "schemas must be a non-empty list of schema names"),
        ({"schemas": ["a", 1]}, "schemas must be a non-empty list of schema names"),
        ({"schemas": ["a", ""]}, "[tool.sqlmig.targets] schemas: an empty schema name; remove it"),
        ({"schemas": ["a", "a"]}, "[tool.sqlmig.targets] schemas: schema 'a' is listed twice"),
        ({"schemas": ["s" * 64]}, "63-byte identifier limit"),
        ({"schemas_from": 1}, "schemas_from must be a SQL query returning schema names, e.g. \"SELECT nspname"),
        ({"schemas_from": "  \n"}, "schemas_from must be a SQL query"),
    ],
    ids=["empty", "both", "unknown key", "misspelt key", "schemas not a list", "no schemas", "schema not a string",
         "empty schema", "duplicate schema", "schema too long", "query not a string", "blank query"],
)  # fmt: skip
def test_targets_config_refuses(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        targets_config(table, "/p/pyproject.toml")
    assert str(info.value).startswith("/p/pyproject.toml: [tool.sqlmig.targets]")
    assert message in str(info.value)
