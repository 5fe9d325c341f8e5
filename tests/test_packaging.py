"""What installing sqlmig installs, and what the Makefile installs for which task. No server.

The wheel is built from a copy of the project with the virtualenv's own setuptools (no download), with one package
added that pyproject.toml does not name, to show that a new subpackage is picked up on its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

import sqlmig

ROOT = Path(sqlmig.__file__).resolve().parent.parent
NEW_PACKAGE = "sqlmig/newpart/deeper"
# A Python warning of any class (SetuptoolsDeprecationWarning, InformationOnly, pip's BuildBackendWarning, ...), and
# the message of an importable folder missing from the packages configuration, in the words of every release.
WARNING = re.compile(r".*\.py:\d+: \w+: .*|.*is absent from the .?packages.? configuration.*")
SETUPTOOLS_MINIMUM = 77


@dataclass(frozen=True)
class Built:
    """A wheel and the editable wheel built from one copy of the project, and what the builds printed."""

    source: Path
    wheel: list[str]
    editable: list[str]
    metadata: str
    output: str


def project_copy(target: Path) -> Path:
    """The files a build reads, copied to ``target``, plus a subpackage that pyproject.toml does not name."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "sqlmig", target / "sqlmig", ignore=shutil.ignore_patterns("__pycache__"))
    (target / NEW_PACKAGE).mkdir(parents=True)
    (target / NEW_PACKAGE / "__init__.py").write_text('"""A subpackage added after pyproject.toml was written."""\n')
    return target


def build(argv: list[str], cwd: Path) -> str:
    """Run one build command; returns what it printed, failing the test with that output if it failed."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    assert int(version("setuptools").split(".")[0]) >= SETUPTOOLS_MINIMUM, "the dev extra brings setuptools>=77"
    base = tmp_path_factory.mktemp("packaging")
    (base / "src").mkdir()
    source = project_copy(base / "src")
    out, editable_out = base / "wheel", base / "editable"
    pip = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index"]
    output = build([*pip, "--wheel-dir", str(out), str(source)], base)
    # pip install -e runs this hook of the build backend; called directly, it needs no target environment.
    hook = f"from setuptools import build_meta; build_meta.build_editable({str(editable_out)!r})"
    editable_out.mkdir()
    output += build([sys.executable, "-c", hook], source)
    (wheel,) = out.glob("sqlmig-*.whl")
    (editable,) = editable_out.glob("sqlmig-*.whl")
    with zipfile.ZipFile(wheel) as w, zipfile.ZipFile(editable) as e:
        metadata = w.read(f"sqlmig-{sqlmig.__version__}.dist-info/METADATA").decode()
        return Built(source, w.namelist(), e.namelist(), metadata, output)


def test_building_prints_no_setuptools_warning(built: Built) -> None:
    assert WARNING.findall(built.output) == []


def test_wheel_holds_every_module_template_and_type_marker(built: Built) -> None:
    expected = {p.relative_to(built.source).as_posix() for p in (built.source / "sqlmig").rglob("*.py")}
    expected |= {f"sqlmig/templates/{p.name}" for p in (ROOT / "sqlmig" / "templates").glob("*.sql")}
    expected |= {"sqlmig/py.typed"}
    assert f"{NEW_PACKAGE}/__init__.py" in expected and len(expected) > 50
    assert {n for n in built.wheel if n.startswith("sqlmig/")} == expected


def test_wheel_carries_the_mit_license(built: Built) -> None:
    assert f"sqlmig-{sqlmig.__version__}.dist-info/licenses/LICENSE" in built.wheel
    assert f"sqlmig-{sqlmig.__version__}.dist-info/licenses/LICENSE" in built.editable
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the sqlmig authors\n")


def test_wheel_metadata_names_the_license_and_python_dotenv(built: Built) -> None:
    assert "License-Expression: MIT\n" in built.metadata
    assert re.search(r"^Requires-Dist: python-dotenv>=1\.0$", built.metadata, re.MULTILINE)


# --- the Makefile ---------------------------------------------------------------------------------------------

RUNTIME_INSTALL = "-m pip install --quiet -e .\n"
DEV_INSTALL = "-m pip install --quiet -e '.[dev]'\n"
RUNTIME_TARGETS = ["migrate-up", "migrate-down", "seed-up", "seed-down", "status", "verify", "migration NAME=x"]
DEV_TARGETS = ["test", "lint", "chaos", "bench"]


def make_dry_run(venv: Path, target: str) -> str:
    """The commands ``make <target>`` would run with its virtualenv in ``venv`` (``make -n``: nothing runs)."""
    argv = ["make", "-n", "-C", str(ROOT), f"VENV={venv}", *target.split()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def installs(commands: str) -> list[str]:
    """Which installs a dry run does, in order: "runtime" for ``-e .``, "dev" for ``-e '.[dev]'``."""
    kinds = {RUNTIME_INSTALL: "runtime", DEV_INSTALL: "dev"}
    return [kind for line in commands.splitlines(keepends=True) for text, kind in kinds.items() if line.endswith(text)]


def stamped(venv: Path, *stamps: str) -> Path:
    """A virtualenv folder whose install stamps ``stamps`` are newer than pyproject.toml."""
    venv.mkdir()
    for name in stamps:
        (venv / name).touch()
    return venv


@pytest.mark.parametrize("target", RUNTIME_TARGETS)
def test_running_migrations_installs_no_dev_tools(tmp_path: Path, target: str) -> None:
    commands = make_dry_run(tmp_path / "venv", target)
    assert installs(commands) == ["runtime"]
    assert "[dev]" not in commands


@pytest.mark.parametrize("target", DEV_TARGETS)
def test_dev_tasks_on_a_fresh_clone_install_everything(tmp_path: Path, target: str) -> None:
    commands = make_dry_run(tmp_path / "venv", target)
    assert installs(commands) == ["runtime", "dev"]
    assert "-m venv" in commands.split(RUNTIME_INSTALL)[0]


def test_test_after_migrate_up_adds_only_the_dev_extra(tmp_path: Path) -> None:
    venv = stamped(tmp_path / "venv", ".installed-stamp")
    assert installs(make_dry_run(venv, "test")) == ["dev"]
    assert installs(make_dry_run(venv, "migrate-up")) == []


def test_nothing_is_installed_again_until_pyproject_changes(tmp_path: Path) -> None:
    venv = stamped(tmp_path / "venv", ".installed-stamp", ".installed-dev-stamp")
    assert installs(make_dry_run(venv, "lint")) == []
    assert installs(make_dry_run(venv, "status")) == []
    for stamp in venv.iterdir():
        os.utime(stamp, (0, 0))  # older than pyproject.toml, as after a pull that changed it
    assert installs(make_dry_run(venv, "status")) == ["runtime"]
    assert installs(make_dry_run(venv, "lint")) == ["runtime", "dev"]
