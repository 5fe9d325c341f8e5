"""``sqlmig lint --since REF``: the migration files a pull request changes, as git sees them.

A file counts as changed when it was added, modified, copied or renamed (under its new name) in any of:

- the commits of this branch since it left ``REF``: ``git diff REF...HEAD`` (three dots: from the merge base,
  so that what ``REF`` gained since, other people's migrations, is not linted as if this branch had made it);
- the working tree and the index, compared with ``HEAD``: changes not committed yet;
- untracked files that ``.gitignore`` does not ignore: a migration just written.

Deleted files are not. Reads the repository by running ``git``; writes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError


def changed(ref: str, targets: Sequence[Path]) -> set[Path]:
    """The resolved paths of the ``.sql`` files changed since git ``ref`` (see the module's documentation) in the
    repository that holds ``targets`` (files or folders). Raises :class:`~sqlmig.ConfigError` when git is not
    installed, the targets are not in a git repository, or ``ref`` names no commit there."""
    if ref.startswith("-") or not ref.strip():
        raise ConfigError(f"cannot compare with the git ref {ref!r}: not a branch, tag or commit name")
    start = next((t if t.is_dir() else t.parent for t in targets if t.exists()), Path.cwd())
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").strip())
    except _GitFailed as exc:
        raise ConfigError(
            f"cannot compare with the git ref {ref!r}: {start} is not in a git repository ({exc}); lint the files "
            "without --since, or run it in a clone of the repository"
        ) from exc
    try:
        _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except _GitFailed as exc:
        raise ConfigError(
            f"cannot compare with the git ref {ref!r}: no branch, tag or commit of that name in {top}; name one "
            "that exists, or fetch it first (a CI checkout often has only one branch: git fetch origin main, then "
            "--since origin/main)"
        ) from exc
    names: list[str] = []
    for args in (
        ("diff", "--name-only", "-z", "--diff-filter=d", f"{ref}...HEAD", "--"),
        ("diff", "--name-only", "-z", "--diff-filter=d", "HEAD", "--"),
        ("ls-files", "-z", "--others", "--exclude-standard"),
    ):
        try:
            names += _git(top, *args).split("\0")
        except _GitFailed as exc:
            raise ConfigError(f"cannot compare with the git ref {ref!r}: git {args[0]} failed: {exc}") from exc
    return {(top / name).resolve() for name in names if name.endswith(".sql")}


class _GitFailed(Exception):
    """git could not be run, or exited with an error (its message is the exception's)."""


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=False)
    except OSError as exc:
        raise _GitFailed(f"git cannot be run: {exc.strerror or exc}") from exc
    # Paths as git prints them, bytes that are not UTF-8 kept (they name no migration sqlmig can read anyway).
    stdout, stderr = (out.decode("utf-8", "surrogateescape") for out in (done.stdout, done.stderr))
    if done.returncode != 0:
        raise _GitFailed(stderr.strip() or f"git {args[0]} exited with {done.returncode}")
    return stdout
