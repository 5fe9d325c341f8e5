"""The CLI's exit codes: every error class of sqlmig.errors has the one the command documents, and the library's
errors carry none."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

import sqlmig
from sqlmig import errors
from sqlmig.cli import exits
from sqlmig.cli.commands import main

# Every class of sqlmig.errors and the exit status of a command that fails with it. A new error class needs a row
# here (test_every_error_class_has_a_row): deciding its exit code is part of adding it.
CODES = {
    "SqlmigError": 1,
    "MigrationError": 1,
    "StoppedMigration": 1,
    "ConfigError": 5,
    "PoolerError": 5,
    "ConnectError": 5,
    "ConnectionLostError": 5,
    "DatabaseError": 5,
    "BookkeepingError": 5,
    "DiscoveryError": 4,
    "RenderError": 4,
    "PlanError": 4,
    "DriftError": 4,
    "OutOfOrderError": 4,
    "MissingFileError": 4,
    "MissingDownError": 4,
    "PendingMigrationsError": 4,
    "HistoryTableError": 4,
    "LintError": 4,
    "LockTimeout": 6,
    "TenantsFailed": 1,
}


def error_classes() -> dict[str, type[errors.SqlmigError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SqlmigError) and cls.__module__ == errors.__name__
    }


def bare(cls: type[errors.SqlmigError]) -> errors.SqlmigError:
    """An instance of ``cls`` without its constructor's arguments: the exit code depends on the class alone."""
    return cls.__new__(cls)


def test_every_error_class_has_a_row() -> None:
    assert sorted(error_classes()) == sorted(CODES)


@pytest.mark.parametrize(("name", "code"), sorted(CODES.items()))
def test_exit_code_of_each_error_class(name: str, code: int) -> None:
    assert exits.exit_code(bare(error_classes()[name])) == code


def test_a_subclass_exits_like_its_parent() -> None:
    class Custom(sqlmig.DriftError):
        pass

    class Both(errors.StoppedMigration, errors.LockTimeout):
        pass

    assert exits.exit_code(bare(Custom)) == exits.EXIT_INVALID
    assert exits.exit_code(bare(Both)) == exits.EXIT_LOCK_TIMEOUT  # StoppedMigration has no code of its own


def test_the_library_errors_carry_no_exit_code() -> None:
    assert [name for name, cls in error_classes().items() if hasattr(cls, "exit_code")] == []


def test_the_named_codes() -> None:
    named = [
        exits.EXIT_OK,
        exits.EXIT_MIGRATION_FAILED,
        exits.EXIT_USAGE,
        exits.EXIT_PENDING,
        exits.EXIT_INVALID,
        exits.EXIT_OPERATIONAL,
        exits.EXIT_LOCK_TIMEOUT,
    ]
    assert named == list(range(7))
    assert exits.EXIT_USAGE == click.UsageError.exit_code == click.BadParameter.exit_code
    documented = exits.EXIT_CODES.replace("\n", " ")
    assert all(f" {code} " in documented for code in range(7)), documented


def test_the_help_epilog_is_the_documented_text() -> None:
    assert main.epilog == exits.EXIT_CODES


def load_worker(name: str) -> ModuleType:
    """tests/faults/worker.py as a fresh module: it decides at import which way it reads exit codes."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "faults" / "worker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fault_worker_exits_with_the_cli_code() -> None:
    code, error = load_worker("worker_now").describe(sqlmig.LockTimeout(3, None))
    assert code == error["exit_code"] == exits.EXIT_LOCK_TIMEOUT


def test_the_fault_worker_reads_an_older_release_error_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """An older release has no sqlmig.cli.exits (None in sys.modules makes its import fail) and its errors carry
    ``exit_code``; the worker runs that release too."""

    class OldError(sqlmig.SqlmigError):
        exit_code = 9

    monkeypatch.setitem(sys.modules, "sqlmig.cli.exits", None)
    code, error = load_worker("worker_old").describe(OldError("old"))
    assert code == error["exit_code"] == 9
