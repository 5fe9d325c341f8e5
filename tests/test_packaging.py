"""What installing sqlmig installs. No server.

The wheel is built from a copy of the project with the virtualenv's own setuptools (no download), with one package
added that pyproject.toml does not name, to show that a new subpackage is picked up on its own.
"""

from __future__ import annotations

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


def test_wheel_metadata_names_the_license(built: Built) -> None:
    assert "License-Expression: MIT\n" in built.metadata
