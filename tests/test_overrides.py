"""The typed settings a caller gives (:class:`sqlmig.config.Overrides`): from the CLI's options, and resolved over
the environment, ``.env`` and ``[tool.sqlmig]``. No server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sqlmig import config, project
from sqlmig.cli.commands import main
from sqlmig.cli.options import overrides
from sqlmig.errors import ConfigError
from sqlmig.migrator import Migrator

Overrides = config.Overrides
URL = "postgresql://user@flag/db"


# --- the CLI's parsed options -> Overrides (pure) -----------------------------------------------------------------

GROUP_NOTHING: dict[str, object] = {
    "database_url": None,
    "dir": None,
    "schema": None,
    "var": (),
    "history_table": None,
    "wait": None,
}


@pytest.mark.parametrize(
    ("group", "own", "expected"),
    [
        pytest.param(GROUP_NOTHING, {}, Overrides(), id="nothing-given"),
        pytest.param(
            {**GROUP_NOTHING, "dir": Path("g"), "var": ("a=1",)},
            {"dir": None, "var": ()},
            Overrides(directory=Path("g"), vars={"a": "1"}),
            id="group-options-apply",
        ),
        pytest.param(
            {**GROUP_NOTHING, "dir": Path("g"), "wait": 1.0, "var": ("a=1",)},
            {"dir": Path("c"), "wait": 2.0, "var": ("b=2",)},
            Overrides(directory=Path("c"), wait=2.0, vars={"b": "2"}),
            id="command-options-win",
        ),
        pytest.param(
            GROUP_NOTHING,
            {"lint": False, "allow_out_of_order": None, "lock_retries": 0, "idempotent": False},
            Overrides(lint=False, lock_retries=0, idempotent=False),
            id="false-and-zero-are-given",
        ),
        pytest.param(
            GROUP_NOTHING,
            {"to": "20240101_000000", "single_transaction": True, "as_json": True, "dry_run": True},
            Overrides(),
            id="not-settings-left-out",
        ),
        pytest.param(
            GROUP_NOTHING,
            {
                "database_url": URL,
                "history_table": "ops.history",
                "lock_wait": 9.0,
                "lock_timeout": "1s",
                "statement_timeout": "2min",
                "invalid_index": "refuse",
                "role": "owner",
                "schema": "app",
            },
            Overrides(
                database_url=URL,
                history_table="ops.history",
                lock_wait=9.0,
                lock_timeout="1s",
                statement_timeout="2min",
                invalid_index="refuse",
                role="owner",
                schema="app",
            ),
            id="every-kind",
        ),
    ],
)
def test_options_to_overrides(group: Mapping[str, object], own: Mapping[str, object], expected: Overrides) -> None:
    assert overrides(group, own) == expected


@pytest.mark.parametrize(
    ("own", "error", "message"),
    [
        pytest.param({"var": ("nonsense",)}, ConfigError, "--var expects NAME=VALUE", id="malformed-var"),
        pytest.param({"lock_wait": "9"}, TypeError, "option 'lock_wait': expected float, got str", id="wrong-type"),
        pytest.param({"dir": "d"}, TypeError, "option 'dir': expected Path, got str", id="a-str-for-a-path"),
    ],
)
def test_options_to_overrides_refused(own: Mapping[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        overrides(GROUP_NOTHING, own)


# --- command lines -> the Overrides the library receives ----------------------------------------------------------


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Overrides]]:
    """The Overrides each command passes to ``config.resolve``; the resolution then fails, so nothing runs."""
    seen: list[Overrides] = []

    def resolve(overrides: Overrides | None = None, **_: Any) -> config.Settings:
        if overrides is None:  # the CLI asking whether the environment has a URL: say yes, no embedded server
            return config.Settings(database_url="postgresql://user@environment/db")
        seen.append(overrides)
        raise ConfigError("stopped here by the test")

    monkeypatch.setattr(config, "resolve", resolve)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "query.sql").write_text("SELECT {{ a }}\n")
    yield seen


EVERY_UP_FLAG = [
    "--database-url", URL, "--dir", "m", "--schema", "s", "--var", "a=1", "--var", "b=2", "--history-table", "h.t",
    "--wait", "2", "--lock-wait", "9", "--allow-out-of-order", "--lock-timeout", "1s", "--statement-timeout", "2min",
    "--lock-retries", "0", "--invalid-index", "refuse", "--role", "r", "--no-lint",
]  # fmt: skip
EVERY_UP_SETTING = Overrides(
    database_url=URL,
    directory=Path("m"),
    schema="s",
    vars={"a": "1", "b": "2"},
    history_table="h.t",
    wait=2.0,
    lock_wait=9.0,
    allow_out_of_order=True,
    lock_timeout="1s",
    statement_timeout="2min",
    lock_retries=0,
    invalid_index="refuse",
    role="r",
    lint=False,
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["migrate", "up"], Overrides(), id="up-nothing-given"),
        pytest.param(["migrate", "up", *EVERY_UP_FLAG], EVERY_UP_SETTING, id="up-every-flag"),
        pytest.param(["seed", "up", "--dry-run", *EVERY_UP_FLAG], EVERY_UP_SETTING, id="dry-run-every-flag"),
        pytest.param(
            ["migrate", "up", "--to", "20240101_000000", "--single-transaction", "--json"], Overrides(), id="up-own"
        ),
        pytest.param(
            ["--dir", "g", "--var", "a=1", "--wait", "1", "migrate", "up"],
            Overrides(directory=Path("g"), vars={"a": "1"}, wait=1.0),
            id="group-options",
        ),
        pytest.param(
            ["--dir", "g", "--schema", "gs", "--var", "a=1", "seed", "up", "--dir", "c", "--var", "b=2"],
            Overrides(directory=Path("c"), schema="gs", vars={"b": "2"}),
            id="command-over-group",
        ),
        pytest.param(
            ["migrate", "down", "--steps", "2", "--lock-wait", "1", "--role", "r", "--lock-retries", "4"],
            Overrides(lock_wait=1.0, role="r", lock_retries=4),
            id="down",
        ),
        pytest.param(
            ["seed", "down", "--dry-run", "--all", "--statement-timeout", "0"],
            Overrides(statement_timeout="0"),
            id="down-dry-run",
        ),
        pytest.param(
            ["status", "--history-table", "x.y", "--wait", "1"], Overrides(history_table="x.y", wait=1.0), id="status"
        ),
        pytest.param(["--schema", "s", "migrate", "status"], Overrides(schema="s"), id="track-status"),
        pytest.param(["migrate", "accept", "--dir", "d", "one"], Overrides(directory=Path("d")), id="accept"),
        pytest.param(
            ["seed", "baseline", "--to", "20240101_000000", "--wait", "4"], Overrides(wait=4.0), id="baseline"
        ),
        pytest.param(
            ["--wait", "3", "verify", "--not-idempotent", "--history-table", "a.b", "--var", "a=1"],
            Overrides(wait=3.0, idempotent=False, history_table="a.b", vars={"a": "1"}),
            id="verify",
        ),
        pytest.param(["verify", "--idempotent"], Overrides(idempotent=True), id="verify-idempotent"),
        pytest.param(
            ["--var", "a=1", "lint", "--schema", "s", "--dir", "d"],
            Overrides(directory=Path("d"), schema="s", vars={"a": "1"}),
            id="lint",
        ),
        pytest.param(["render", "query.sql", "--var", "a=2"], Overrides(vars={"a": "2"}), id="render"),
        pytest.param(["new", "--name", "x", "--dir", "d"], Overrides(directory=Path("d")), id="new"),
    ],
)
def test_command_line_to_overrides(received: list[Overrides], argv: list[str], expected: Overrides) -> None:
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (5, "error: stopped here by the test\n")
    assert received == [expected]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["migrate", "up", "--dry-run", "--lock-timeout", "soon"],
            "error: lock_timeout must be a duration such as 5s, 500ms, 1h or 0 (none), got 'soon'\n",
            id="dry-run-checks-the-limits",
        ),
        pytest.param(
            ["status", "--var", "nonsense"],
            "error: --var expects NAME=VALUE with NAME a valid identifier, got 'nonsense'\n",
            id="status-checks-var",
        ),
    ],
)
def test_every_command_checks_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    """A flag is checked before anything connects (here to a host that does not exist), whatever the command."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*argv, "--database-url", "postgresql://user@host.invalid/db"])
    assert (result.exit_code, result.stderr) == (5, message)


# --- Overrides + environment + .env + pyproject.toml -> Settings --------------------------------------------------

PYPROJECT = """[tool.sqlmig]
directory = "conf"
schema = "app"
history_table = "ops.history"
vars = { a = "1", b = "2" }
lock_timeout = "2s"
lint = true
allow_out_of_order = true
role = "configured"
wait = 7
"""


@pytest.mark.parametrize(
    ("given", "environ", "dotenv", "expected"),
    [
        pytest.param(
            Overrides(database_url="postgresql://flag"),
            {"SQLMIG_DATABASE_URL": "postgresql://env"},
            "",
            {"database_url": "postgresql://flag", "url_source": "the given URL"},
            id="url-flag-over-environment",
        ),
        pytest.param(
            Overrides(),
            {"DATABASE_URL": "postgresql://pooled", "DIRECT_URL": "postgresql://direct"},
            "",
            {"database_url": "postgresql://direct", "url_source": "DIRECT_URL"},
            id="url-direct-over-pooled",
        ),
        pytest.param(
            Overrides(),
            {"DATABASE_URL": "postgresql://pooled"},
            "DIRECT_URL=postgresql://dotenv\n",
            {"database_url": "postgresql://dotenv", "url_source": "DIRECT_URL (.env)"},
            id="url-dotenv-fills-in",
        ),
        pytest.param(
            Overrides(),
            {"DIRECT_URL": "postgresql://env"},
            "DIRECT_URL=postgresql://dotenv\n",
            {"database_url": "postgresql://env", "url_source": "DIRECT_URL"},
            id="url-environment-over-dotenv",
        ),
        pytest.param(Overrides(), {}, "", {"database_url": None, "url_source": ""}, id="url-none"),
        pytest.param(
            Overrides(lock_timeout="1s", statement_timeout="90s"),
            {},
            "",
            {"lock_timeout": "1s", "statement_timeout": "90s"},
            id="flag-over-config-over-default",
        ),
        pytest.param(
            Overrides(), {}, "", {"lock_timeout": "2s", "statement_timeout": "1h", "lock_retries": 3}, id="config"
        ),
        pytest.param(
            Overrides(lint=False, allow_out_of_order=False, wait=0.0),
            {},
            "",
            {"lint": False, "allow_out_of_order": False, "wait": 0.0},
            id="false-and-zero-win",
        ),
        pytest.param(
            Overrides(), {}, "", {"lint": True, "allow_out_of_order": True, "wait": 7.0}, id="none-leaves-config"
        ),
        pytest.param(Overrides(vars={"b": "x"}), {}, "", {"vars": {"a": "1", "b": "x"}}, id="vars-merged"),
        pytest.param(
            Overrides(history_table="", schema="flag", role="flag"),
            {},
            "",
            {"history_table": "ops.history", "schema": "flag", "role": "flag"},
            id="empty-history-table-is-not-given",
        ),
        pytest.param(
            Overrides(invalid_index="refuse", lock_wait=1.5, idempotent=True),
            {},
            "",
            {"invalid_index": "refuse", "lock_wait": 1.5, "idempotent": True},
            id="the-rest",
        ),
    ],
)
def test_precedence(
    tmp_path: Path, given: Overrides, environ: dict[str, str], dotenv: str, expected: dict[str, object]
) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / ".env").write_text(dotenv)
    settings = config.resolve(given, cwd=tmp_path, environ=environ)
    assert {name: getattr(settings, name) for name in expected} == expected


def test_a_given_directory_is_relative_to_cwd_the_configured_one_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    inside = tmp_path / "sub"
    inside.mkdir()
    assert config.resolve(Overrides(directory="given"), cwd=inside, environ={}).directory == inside / "given"
    assert config.resolve(Overrides(), cwd=inside, environ={}).directory == tmp_path / "conf"
    assert config.resolve(cwd=inside, environ={}) == config.resolve(Overrides(), cwd=inside, environ={})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(Overrides(lock_timeout="soon"), "lock_timeout must be a duration", id="duration"),
        pytest.param(Overrides(lock_retries=-1), "lock_retries must be a whole number", id="count"),
        pytest.param(
            dataclasses.replace(Overrides(), invalid_index="keep"),  # type: ignore[arg-type]
            "invalid_index must be one of drop, refuse",
            id="choice",
        ),
        pytest.param(Overrides(lint="yes"), "lint must be true or false", id="flag"),  # type: ignore[arg-type]
    ],
)
def test_resolve_checks_every_override(tmp_path: Path, given: Overrides, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.resolve(given, cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="none"),
        pytest.param({"database_url": URL, "directory": "d", "vars": {"a": 1}}, id="some"),
        pytest.param({"invalid_index": "refuse", "lock_retries": 0, "lint": False, "wait": 2.0}, id="others"),
    ],
)
def test_load_is_resolve_with_keywords(tmp_path: Path, options: dict[str, Any]) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    expected = config.resolve(Overrides(**options), cwd=tmp_path, environ={})
    assert config.load(**options, cwd=tmp_path, environ={}) == expected


def test_every_override_but_the_url_can_be_configured() -> None:
    names = {f.name for f in dataclasses.fields(Overrides)}
    assert names - {"database_url"} | {"env", "stubs", "targets"} == project.KEYS


# --- Migrator.from_config: keywords or Overrides ------------------------------------------------------------------


def test_from_config_takes_overrides_or_keywords(tmp_path: Path) -> None:
    given = Overrides(database_url="postgresql://given", lock_timeout="1s", directory="ignored")
    built = Migrator.from_config("postgresql://argument", "d", overrides=given, cwd=tmp_path, environ={})
    assert (built.settings.database_url, built.settings.directory) == ("postgresql://argument", tmp_path / "d")
    assert (built.settings.lock_timeout, built.database) == ("1s", "postgresql://argument")
    by_keyword = Migrator.from_config(lock_timeout="1s", role="r", cwd=tmp_path, environ={})
    assert by_keyword.settings == config.resolve(Overrides(lock_timeout="1s", role="r"), cwd=tmp_path, environ={})
    from_overrides = Migrator.from_config(overrides=Overrides(database_url=URL), cwd=tmp_path, environ={})
    assert (from_overrides.settings.database_url, from_overrides.database) == (URL, None)


def test_from_config_refuses_both_forms_and_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not both: lint"):
        Migrator.from_config(overrides=Overrides(), lint=True, cwd=tmp_path, environ={})
    with pytest.raises(TypeError, match="lock_timeut"):
        Migrator.from_config(lock_timeut="1s", cwd=tmp_path, environ={})
