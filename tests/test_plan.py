"""make_plan / make_down_plan / make_status / up_plan: rows of (files, applied, options) -> steps or error. No
server."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlmig.errors import (
    DriftError,
    MissingDownError,
    MissingFileError,
    OutOfOrderError,
    PendingMigrationsError,
    PlanError,
)
from sqlmig.model import Applied, MigrationFile, SqlFile
from sqlmig.plan import DownTarget, ahead_text, make_down_plan, make_plan, make_status, up_plan


def mf(
    version: str, label: str = "m", *, down: bool = True, checksum: str = "c", track: str = "migrate"
) -> MigrationFile:
    name = f"{version}_{label}"
    up = SqlFile(Path(f"{name}.up.sql"), frozenset(), checksum, False, 1)
    dn = SqlFile(Path(f"{name}.down.sql"), frozenset(), "d", False, 1) if down else None
    return MigrationFile(track, version, name, up, dn)  # type: ignore[arg-type]


def row(
    version: str,
    label: str = "m",
    *,
    checksum: str | None = "c",
    track: str = "migrate",
    legacy: bool = False,
    partial: bool = False,
) -> Applied:
    done = 2 if partial else None
    return Applied(f"{version}_{label}", track, None if legacy else version, checksum, None, None, done)


A, B, C, D = "20240101_000000", "20240102_000000", "20240103_000000", "20240104_000000"

UP_CASES = [
    ("empty database", [mf(A), mf(B)], [], {}, [f"{A}_m", f"{B}_m"]),
    ("up to date", [mf(A), mf(B)], [row(A), row(B)], {}, []),
    ("one pending", [mf(A), mf(B)], [row(A)], {}, [f"{B}_m"]),
    ("legacy rows without checksum are trusted", [mf(A), mf(B)], [row(A, checksum=None, legacy=True)], {}, [f"{B}_m"]),
    ("other track's rows are ignored", [mf(A)], [row(A, track="seed")], {}, [f"{A}_m"]),
    ("out of order allowed", [mf(A), mf(B)], [row(B)], {"allow_out_of_order": True}, [f"{A}_m"]),
    (
        "zero version sorts first",
        [mf("00000000_000000", "create_schemas"), mf(A)],
        [],
        {},
        ["00000000_000000_create_schemas", f"{A}_m"],
    ),
    ("time part not a clock time", [mf("20230322_519590")], [], {}, ["20230322_519590_m"]),
]


@pytest.mark.parametrize(
    ("files", "applied", "opts", "expected"), [c[1:] for c in UP_CASES], ids=[c[0] for c in UP_CASES]
)
def test_make_plan(
    files: list[MigrationFile], applied: list[Applied], opts: dict[str, bool], expected: list[str]
) -> None:
    plan = make_plan(files, applied, track="migrate", **opts)
    assert [s.file.name for s in plan.steps] == expected
    assert all(s.direction == "up" for s in plan.steps)


# A history ahead of the files: rows without a file, every one newer than the newest file (a newer release applied
# them; this one runs beside it during a rolling deploy or a rollback of the application).
AHEAD_CASES = [
    ("up to date, one row ahead", [mf(A), mf(B)], [row(A), row(B), row(C)], {}, [], [f"{C}_m"]),
    ("several rows ahead, listed oldest first", [mf(A)], [row(A), row(D), row(C)], {}, [], [f"{C}_m", f"{D}_m"]),
    ("a legacy row ahead", [mf(A)], [row(A), row(B, legacy=True, checksum=None)], {}, [], [f"{B}_m"]),
    (
        "a partial row ahead is the newer release's to resume",
        [mf(A)],
        [row(A), row(B, partial=True)],
        {},
        [],
        [f"{B}_m"],
    ),
    ("other track's rows are not ahead", [mf(A)], [row(A), row(B, track="seed")], {}, [], []),
    (
        "pending and out of order allowed",
        [mf(A), mf(B)],
        [row(A), row(C)],
        {"allow_out_of_order": True},
        [f"{B}_m"],
        [f"{C}_m"],
    ),
    (
        "a partial known file resumes",
        [mf(A), mf(B)],
        [row(A), row(B, partial=True), row(C)],
        {"allow_out_of_order": True},
        [f"{B}_m"],
        [f"{C}_m"],
    ),
]


@pytest.mark.parametrize(
    ("files", "applied", "opts", "steps", "ahead"), [c[1:] for c in AHEAD_CASES], ids=[c[0] for c in AHEAD_CASES]
)
def test_make_plan_ahead(
    files: list[MigrationFile], applied: list[Applied], opts: dict[str, bool], steps: list[str], ahead: list[str]
) -> None:
    plan = make_plan(files, applied, track="migrate", **opts)
    assert [s.file.name for s in plan.steps] == steps
    assert [r.name for r in plan.ahead] == ahead


def test_plan_of_a_consistent_history_has_nothing_ahead() -> None:
    assert make_plan([mf(A), mf(B)], [row(A)], track="migrate").ahead == ()


def test_ahead_warning_names_every_row_and_says_what_to_do() -> None:
    text = ahead_text([row(C), row(D, "s", track="seed")])
    assert f"{C}_m (migrate), {D}_s (seed)" in text
    assert "applied by a newer release" in text and "roll them back with the newer release" in text


UP_ERRORS = [
    ("drift", [mf(A, checksum="new"), mf(B)], [row(A, checksum="old")], DriftError, [f"{A}_m"]),
    ("missing file", [mf(B)], [row(A), row(B)], MissingFileError, [f"{A}_m"]),
    ("unknown version between known ones", [mf(A), mf(C)], [row(A), row(B), row(C)], MissingFileError, [f"{B}_m"]),
    (
        "between known ones and ahead: only the one between is an error",
        [mf(A), mf(C)],
        [row(A), row(B), row(C), row(D)],
        MissingFileError,
        [f"{B}_m"],
    ),
    (
        "unknown name with the newest file's version",
        [mf(A), mf(B)],
        [row(A), row(B, "x")],
        MissingFileError,
        [f"{B}_x"],
    ),
    ("no file at all: a wrong folder", [], [row(A), row(B)], MissingFileError, [f"{A}_m", f"{B}_m"]),
    ("out of order", [mf(A), mf(B)], [row(B)], OutOfOrderError, [f"{A}_m"]),
    ("out of order against a legacy row", [mf(A), mf(B)], [row(B, legacy=True)], OutOfOrderError, [f"{A}_m"]),
    ("out of order against a row ahead", [mf(A), mf(B)], [row(A), row(C)], OutOfOrderError, [f"{B}_m"]),
]


@pytest.mark.parametrize(
    ("files", "applied", "error", "names"), [c[1:] for c in UP_ERRORS], ids=[c[0] for c in UP_ERRORS]
)
def test_make_plan_errors(
    files: list[MigrationFile], applied: list[Applied], error: type[PlanError], names: list[str]
) -> None:
    with pytest.raises(error) as info:
        make_plan(files, applied, track="migrate")
    assert list(info.value.names) == names
    for name in names:
        assert name in str(info.value)


def test_drift_error_names_the_accept_command() -> None:
    with pytest.raises(DriftError, match=rf"sqlmig migrate accept {A}_m"):
        make_plan([mf(A, checksum="new")], [row(A, checksum="old")], track="migrate")


DOWN_CASES = [
    ("one by default", [mf(A), mf(B), mf(C)], [row(A), row(B), row(C)], DownTarget(), [f"{C}_m"]),
    ("steps", [mf(A), mf(B), mf(C)], [row(A), row(B), row(C)], DownTarget(steps=2), [f"{C}_m", f"{B}_m"]),
    ("steps beyond applied", [mf(A), mf(B)], [row(A)], DownTarget(steps=5), [f"{A}_m"]),
    ("to keeps the target", [mf(A), mf(B), mf(C)], [row(A), row(B), row(C)], DownTarget(to=A), [f"{C}_m", f"{B}_m"]),
    (
        "all, newest first",
        [mf(A), mf(B), mf(C)],
        [row(C), row(A), row(B)],
        DownTarget(all=True),
        [f"{C}_m", f"{B}_m", f"{A}_m"],
    ),
    ("pending files are not rolled back", [mf(A), mf(B)], [row(A)], DownTarget(all=True), [f"{A}_m"]),
    ("nothing applied", [mf(A)], [], DownTarget(), []),
    ("--to the newest row ahead rolls back nothing", [mf(A)], [row(A), row(B)], DownTarget(to=B), []),
    (
        "missing down of an unselected file is fine",
        [mf(A, down=False), mf(B)],
        [row(A), row(B)],
        DownTarget(),
        [f"{B}_m"],
    ),
]


@pytest.mark.parametrize(
    ("files", "applied", "target", "expected"), [c[1:] for c in DOWN_CASES], ids=[c[0] for c in DOWN_CASES]
)
def test_make_down_plan(
    files: list[MigrationFile], applied: list[Applied], target: DownTarget, expected: list[str]
) -> None:
    plan = make_down_plan(files, applied, track="migrate", target=target)
    assert [s.file.name for s in plan.steps] == expected
    assert all(s.direction == "down" for s in plan.steps)


DOWN_ERRORS = [
    (
        "missing down",
        [mf(A), mf(B, down=False), mf(C, down=False)],
        [row(A), row(B), row(C)],
        DownTarget(all=True),
        MissingDownError,
    ),
    ("unknown --to", [mf(A), mf(B)], [row(A), row(B)], DownTarget(to="20991231_000000"), PlanError),
    ("bad steps", [mf(A)], [row(A)], DownTarget(steps=0), PlanError),
    ("drift blocks rollback", [mf(A, checksum="new")], [row(A, checksum="old")], DownTarget(), DriftError),
    ("a row ahead blocks the newest", [mf(A), mf(B)], [row(A), row(B), row(C)], DownTarget(), MissingFileError),
    ("a row ahead blocks --all", [mf(A), mf(B)], [row(A), row(B), row(C)], DownTarget(all=True), MissingFileError),
    ("a row ahead blocks --to", [mf(A), mf(B)], [row(A), row(B), row(C)], DownTarget(to=A), MissingFileError),
    ("a row between blocks rollback", [mf(A), mf(C)], [row(A), row(B), row(C)], DownTarget(), MissingFileError),
]


@pytest.mark.parametrize(
    ("files", "applied", "target", "error"), [c[1:] for c in DOWN_ERRORS], ids=[c[0] for c in DOWN_ERRORS]
)
def test_make_down_plan_errors(
    files: list[MigrationFile], applied: list[Applied], target: DownTarget, error: type[PlanError]
) -> None:
    with pytest.raises(error):
        make_down_plan(files, applied, track="migrate", target=target)


def test_missing_down_lists_every_file() -> None:
    files = [mf(A), mf(B, down=False), mf(C, down=False)]
    with pytest.raises(MissingDownError) as info:
        make_down_plan(files, [row(A), row(B), row(C)], track="migrate", target=DownTarget(all=True))
    assert info.value.names == (f"{C}_m", f"{B}_m")


def test_status_states() -> None:
    files = [mf(A), mf(B, checksum="edited"), mf(C)]
    applied = [row(A), row(B, checksum="orig"), row("20231231_000000", "gone")]
    entries = make_status(files, applied, track="migrate")
    assert [(e.name, e.state) for e in entries] == [
        ("20231231_000000_gone", "missing"),
        (f"{A}_m", "applied"),
        (f"{B}_m", "drifted"),
        (f"{C}_m", "pending"),
    ]


def test_rollback_beneath_rows_ahead_names_them_and_the_newer_release() -> None:
    with pytest.raises(MissingFileError) as info:
        make_down_plan([mf(A), mf(B)], [row(A), row(B), row(C), row(D)], track="migrate", target=DownTarget(steps=3))
    assert info.value.names == (f"{D}_m", f"{C}_m")
    text = str(info.value)
    assert "newer release" in text and "nothing was rolled back" in text and "'sqlmig migrate down' from it" in text


def test_status_of_a_history_ahead() -> None:
    files = [mf(A), mf(C)]
    applied = [row(A), row(B), row(C), row(D), row("20240105_000000", partial=True)]
    entries = make_status(files, applied, track="migrate")
    assert [(e.name, e.state) for e in entries] == [
        (f"{A}_m", "applied"),
        (f"{B}_m", "missing"),
        (f"{C}_m", "applied"),
        (f"{D}_m", "future"),
        ("20240105_000000_m", "future"),
    ]


def seed_files() -> dict[str, list[MigrationFile]]:
    return {"migrate": [mf(A)], "seed": [mf(B, "s", track="seed")]}


def test_migrate_ahead_does_not_stop_seeds() -> None:
    plan = up_plan(seed_files(), [row(A), row(C)], "seed", False)
    assert [s.file.name for s in plan.steps] == [f"{B}_s"]
    assert [r.name for r in plan.ahead] == [f"{C}_m"]


def test_seed_plan_lists_rows_ahead_of_both_tracks() -> None:
    applied = [row(A), row(C), row(B, "s", track="seed"), row(D, "s", track="seed")]
    plan = up_plan(seed_files(), applied, "seed", False)
    assert plan.steps == ()
    assert [(r.track, r.name) for r in plan.ahead] == [("migrate", f"{C}_m"), ("seed", f"{D}_s")]


def test_seeds_still_wait_for_pending_migrations_beside_rows_ahead() -> None:
    files = {"migrate": [mf(A), mf(B)], "seed": [mf(B, "s", track="seed")]}
    with pytest.raises(PendingMigrationsError):
        up_plan(files, [row(A), row(C)], "seed", False)


def test_seeds_refuse_a_migrate_row_between_known_ones() -> None:
    files = {"migrate": [mf(A), mf(C)], "seed": [mf(B, "s", track="seed")]}
    with pytest.raises(MissingFileError):
        up_plan(files, [row(A), row(B), row(C)], "seed", False)


def test_a_folder_without_files_points_at_the_dir_setting() -> None:
    with pytest.raises(MissingFileError, match=r"no migration files at all: check that --dir"):
        make_plan([], [row(A)], track="migrate")
    assert [e.state for e in make_status([], [row(A)], track="migrate")] == ["missing"]


UP_TO_CASES = [
    ("up to the middle", [mf(A), mf(B), mf(C)], [], B, [f"{A}_m", f"{B}_m"]),
    ("up to the first", [mf(A), mf(B), mf(C)], [], A, [f"{A}_m"]),
    ("up to the newest is all", [mf(A), mf(B), mf(C)], [], C, [f"{A}_m", f"{B}_m", f"{C}_m"]),
    ("already past it", [mf(A), mf(B), mf(C)], [row(A), row(B)], A, []),
    ("the rest up to it", [mf(A), mf(B), mf(C), mf(D)], [row(A)], C, [f"{B}_m", f"{C}_m"]),
    ("a partial file up to it is resumed", [mf(A), mf(B)], [row(A, partial=True)], A, [f"{A}_m"]),
]


@pytest.mark.parametrize(
    ("files", "applied", "to", "expected"), [c[1:] for c in UP_TO_CASES], ids=[c[0] for c in UP_TO_CASES]
)
def test_up_plan_to_a_version(files: list[MigrationFile], applied: list[Applied], to: str, expected: list[str]) -> None:
    plan = up_plan({"migrate": files, "seed": []}, applied, "migrate", False, to=to)
    assert [s.file.name for s in plan.steps] == expected


def test_up_plan_to_a_version_no_file_has() -> None:
    with pytest.raises(PlanError) as caught:
        up_plan({"migrate": [mf(A), mf(C)], "seed": []}, [], "migrate", False, to=B)
    assert str(caught.value) == f"no migrate migration file has version {B}: give the version of one (YYYYMMDD_HHMMSS)"


def test_up_plan_to_a_seed_version_on_the_seed_track() -> None:
    seeds = [mf(A, "s", track="seed"), mf(B, "s", track="seed")]
    plan = up_plan({"migrate": [mf(A)], "seed": seeds}, [row(A)], "seed", False, to=A)
    assert [s.file.name for s in plan.steps] == [f"{A}_s"]
    with pytest.raises(PlanError, match="no seed migration file has version"):
        up_plan({"migrate": [mf(A)], "seed": seeds}, [row(A)], "seed", False, to=C)
