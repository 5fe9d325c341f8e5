"""discover(): naming rule, pairing, every offending file listed, directives, checksums. No server, except for
one test that shows a name used by both tracks refused by ``up`` before anything runs."""

from __future__ import annotations

import hashlib
import runpy
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import sqlmig
from sqlmig.cli.commands import main
from sqlmig.errors import DiscoveryError
from sqlmig.files import _CHUNK, discover, discover_tracks, read_directives
from sqlmig.naming import NAME_RE, NAMING_RULE


def write(base: Path, rel: str, data: str | bytes) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_pairs_and_orders_by_version(tmp_path: Path) -> None:
    write(tmp_path, "migrate/20240102_000000_b.up.sql", "select 2;\n")
    write(tmp_path, "migrate/20240101_000000_a.up.sql", "select 1;\n")
    write(tmp_path, "migrate/20240101_000000_a.down.sql", "select -1;\n")
    write(tmp_path, "migrate/00000000_000000_create_schemas.up.sql", "select 0;\n")
    write(tmp_path, "migrate/README.md", "ignored")
    write(tmp_path, "migrate/.#20240103_000000_x.up.sql", "editor lock file, ignored")
    files = discover(tmp_path, "migrate")
    assert [f.name for f in files] == ["00000000_000000_create_schemas", "20240101_000000_a", "20240102_000000_b"]
    assert [f.version for f in files] == ["00000000_000000", "20240101_000000", "20240102_000000"]
    assert files[1].down is not None and files[1].down.path.name == "20240101_000000_a.down.sql"
    assert files[2].down is None
    assert all(f.track == "migrate" for f in files)


def test_missing_track_folder_is_empty_but_missing_base_is_an_error(tmp_path: Path) -> None:
    assert discover(tmp_path, "seed") == []
    with pytest.raises(DiscoveryError, match="migrations folder not found"):
        discover(tmp_path / "nope", "migrate")


def test_a_missing_migrations_folder_says_which_and_how_to_name_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advice = (
        "migrations folder not found: pass the folder that holds migrate/ and seed/ as the directory argument or "
        "as directory in [tool.sqlmig], or create this one"
    )
    with pytest.raises(DiscoveryError) as info:
        discover_tracks(tmp_path / "nope")
    assert str(info.value) == f"1 problem(s) with migration files:\n  {tmp_path / 'nope'}: {advice}"
    # apply() without a directory looks in ./migrations, or where [tool.sqlmig] says; files are read first. It is
    # called from a module of an application outside any project (a module of this repository would find the
    # repository's own migrations: see the Migrator's tests).
    monkeypatch.chdir(tmp_path)
    app = tmp_path / "app.py"
    app.write_text("import sqlmig\nsqlmig.apply('postgresql://nobody@127.0.0.1:1/none?connect_timeout=1')\n")
    with pytest.raises(DiscoveryError) as info:
        runpy.run_path(str(app))
    assert str(info.value) == f"1 problem(s) with migration files:\n  {tmp_path / 'migrations'}: {advice}"
    (tmp_path / "pyproject.toml").write_text('[tool.sqlmig]\ndirectory = "db/sql"\n')
    with pytest.raises(DiscoveryError) as info:
        runpy.run_path(str(app))
    assert info.value.problems[0].path == tmp_path / "db" / "sql" and info.value.problems[0].message == advice


def test_every_offending_file_is_listed(tmp_path: Path) -> None:
    write(tmp_path, "migrate/2024_01_bad.up.sql", "")
    write(tmp_path, "migrate/20240101_000000_ok.sql", "")
    write(tmp_path, "migrate/20240101_000000_a.up.sql", "select 1;")
    write(tmp_path, "migrate/20240101_000000_b.up.sql", "select 1;")
    write(tmp_path, "migrate/20240105_000000_orphan.down.sql", "select 1;")
    write(tmp_path, "seed/20240101_000000_x.up.sql", "-- sqlmig: no-transactoin\nselect 1;")
    with pytest.raises(DiscoveryError) as info:
        discover_tracks(tmp_path)
    text = str(info.value)
    problems = {(p.path.name, p.line) for p in info.value.problems}
    assert problems == {
        ("2024_01_bad.up.sql", 0),
        ("20240101_000000_ok.sql", 0),
        ("20240101_000000_a.up.sql", 0),
        ("20240101_000000_b.up.sql", 0),
        ("20240105_000000_orphan.down.sql", 0),
        ("20240101_000000_x.up.sql", 1),
    }
    assert "duplicate version 20240101_000000" in text
    assert "down file has no up file" in text
    assert "naming rule" in text
    assert "no-transactoin" in text


def test_time_part_is_not_checked_as_a_clock_time(tmp_path: Path) -> None:
    write(tmp_path, "migrate/20230322_519590_odd.up.sql", "select 1;")
    assert [f.version for f in discover(tmp_path, "migrate")] == ["20230322_519590"]


@pytest.mark.parametrize(
    "raw",
    [b"select 1;\nselect 2;\n", b"\xef\xbb\xbfselect 1;\nselect 2;\n", b"select 1;\r\nselect 2;\r\n"],
    ids=["lf", "bom", "crlf"],
)
def test_checksum_ignores_bom_and_crlf(tmp_path: Path, raw: bytes) -> None:
    write(tmp_path, "migrate/20240101_000000_a.up.sql", raw)
    (f,) = discover(tmp_path, "migrate")
    assert f.up.checksum == hashlib.sha256(b"select 1;\nselect 2;\n").hexdigest()


def test_crlf_split_across_read_chunks(tmp_path: Path) -> None:
    body = b"-" * (_CHUNK - 1) + b"\r\n" + b"select 1;\r\n"
    write(tmp_path, "seed/20240101_000000_big.up.sql", body)
    (f,) = discover(tmp_path, "seed")
    assert f.up.checksum == hashlib.sha256(body.replace(b"\r\n", b"\n")).hexdigest()
    assert f.up.size == len(body)


def test_directives_and_template_detection(tmp_path: Path) -> None:
    write(
        tmp_path, "migrate/20240101_000000_a.up.sql", "-- sqlmig: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"
    )
    write(tmp_path, "migrate/20240102_000000_b.up.sql", "CREATE TABLE {{ schema }}.t (a int);")
    write(tmp_path, "migrate/20240103_000000_c.up.sql", "-- sqlmig: no-template\nSELECT '{{1,2},{3,4}}'::int[];")
    a, b, c = discover(tmp_path, "migrate")
    assert a.up.directives == frozenset({"no-transaction"}) and not a.up.transactional
    assert not a.up.templated
    assert b.up.templated and b.up.transactional
    assert c.up.directives == frozenset({"no-template"}) and not c.up.templated


def test_non_utf8_file_names_its_line(tmp_path: Path) -> None:
    write(tmp_path, "migrate/20240101_000000_a.up.sql", b"select 1;\nselect 'caf\xe9';\n")
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, "migrate")
    (problem,) = info.value.problems
    assert problem.line == 2 and "UTF-8" in problem.message


def test_template_marker_split_across_chunks_is_found(tmp_path: Path) -> None:
    body = b"-" * (_CHUNK - 1) + b"{{ schema }}\n"
    write(tmp_path, "seed/20240101_000000_big.up.sql", body)
    (f,) = discover(tmp_path, "seed")
    assert f.up.templated


@pytest.mark.parametrize("at", [10, _CHUNK - 1, _CHUNK, _CHUNK + 5, 3 * _CHUNK - 1])
def test_non_utf8_in_a_large_file_names_its_line(tmp_path: Path, at: int) -> None:
    line = b"x" * 99 + b"\n"
    body = bytearray(line * (3 * _CHUNK // len(line) + 10))
    body[at] = 0xE9  # a lone Latin-1 byte
    write(tmp_path, "seed/20240101_000000_big.up.sql", bytes(body))
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, "seed")
    (problem,) = info.value.problems
    assert problem.line == 1 + body[:at].count(b"\n") and "UTF-8" in problem.message


def test_characters_split_across_chunks_are_valid(tmp_path: Path) -> None:
    body = b"-" * (_CHUNK - 1) + "żółw 🐢\n".encode() * 3 + b"x" * _CHUNK + "ä\n".encode()
    write(tmp_path, "seed/20240101_000000_big.up.sql", body)
    (f,) = discover(tmp_path, "seed")
    assert f.up.checksum == hashlib.sha256(body).hexdigest() and not f.up.templated


def test_a_large_file_ending_inside_a_character(tmp_path: Path) -> None:
    body = b"-" * (2 * _CHUNK) + b"\n" + "ż".encode()[:1]
    write(tmp_path, "seed/20240101_000000_big.up.sql", body)
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, "seed")
    (problem,) = info.value.problems
    assert problem.line == 2 and "ends inside a character" in problem.message


# --- ASCII digits only ----------------------------------------------------------------------------------------

NON_ASCII_DIGITS = [
    "\uff120250101_000000_fullwidth.up.sql",  # FULLWIDTH DIGIT TWO, which sorted after every real version
    "20250101_\u0660\u0660\u0660\u0660\u0660\u0660_arabic_indic.up.sql",
    "2025\u09e7\u09e8\u09e6\u09e7_000000_bengali.up.sql",
    "20250101_000000_devanagari\u0967.up.sql",
    "\U0001d7ce0250101_000000_math_bold.down.sql",
]


@pytest.mark.parametrize("name", NON_ASCII_DIGITS)
def test_only_ascii_digits_fit_the_naming_rule(tmp_path: Path, name: str) -> None:
    write(tmp_path, "migrate/20240101_000000_ok.up.sql", "select 1;")
    write(tmp_path, f"migrate/{name}", "select 1;")
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, "migrate")
    (problem,) = info.value.problems
    assert (problem.path.name, problem.line) == (name, 0)
    assert problem.message == f"file name does not fit the naming rule: {NAMING_RULE}"
    assert NAME_RE.match(name) is None


@pytest.mark.parametrize(
    ("directive", "meaning"),
    [
        ("lock-timeout=\uff15s", "lock-timeout must be a duration"),
        ("statement-timeout=1\u0660s", "statement-timeout must be a duration"),
        ("lock-retries=\u0663", "lock-retries must be a whole number"),
    ],
)
def test_directive_values_take_ascii_digits_only(directive: str, meaning: str) -> None:
    with pytest.raises(DiscoveryError) as info:
        read_directives([f"-- sqlmig: {directive}\n", "SELECT 1;\n"], Path("f.sql"))
    (problem,) = info.value.problems
    assert problem.line == 1 and problem.message.startswith(meaning)


# --- one track per name -------------------------------------------------------------------------------------

SHARED = "20240101_000000_shared"


def test_a_name_in_both_tracks_is_refused_naming_both_files(tmp_path: Path) -> None:
    migrate = write(tmp_path, f"migrate/{SHARED}.up.sql", "CREATE TABLE public.t (id int);")
    seed = write(tmp_path, f"seed/{SHARED}.up.sql", "INSERT INTO public.t VALUES (1);")
    write(tmp_path, "migrate/20240102_000000_mine.up.sql", "select 1;")  # a version both tracks use, with
    write(tmp_path, "seed/20240102_000000_theirs.up.sql", "select 1;")  # different names, is fine
    with pytest.raises(DiscoveryError) as info:
        discover_tracks(tmp_path)
    assert [(p.path, p.line) for p in info.value.problems] == [(migrate, 0), (seed, 0)]
    mine, theirs = info.value.problems
    assert mine.message == (
        f"the name {SHARED} is also used in seed/ ({seed}): the history records migrations by name, so a name may "
        "be in one track only; give the one not applied yet a new timestamp (rename its .up.sql and .down.sql)"
    )
    assert f"also used in migrate/ ({migrate})" in theirs.message


@pytest.mark.parametrize("track", ["migrate", "seed"])
def test_a_name_clash_is_seen_when_one_track_runs_without_reading_the_other(tmp_path: Path, track: str) -> None:
    other = "seed" if track == "migrate" else "migrate"
    mine = write(tmp_path, f"{track}/{SHARED}.up.sql", "select 1;")
    # The other track's files are not read: this one would be refused for its encoding if it were.
    theirs = write(tmp_path, f"{other}/{SHARED}.up.sql", b"select '\xe9';")
    write(tmp_path, f"{other}/{SHARED}.down.sql", b"\xff")
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, track)  # type: ignore[arg-type]
    (problem,) = info.value.problems
    assert problem.path == mine and f"also used in {other}/ ({theirs})" in problem.message


def test_a_down_file_alone_in_the_other_track_is_not_a_name_clash(tmp_path: Path) -> None:
    write(tmp_path, f"migrate/{SHARED}.up.sql", "select 1;")
    write(tmp_path, f"seed/{SHARED}.down.sql", "select 1;")  # an orphan: the seed track's own discovery says so
    assert [f.name for f in discover(tmp_path, "migrate")] == [SHARED]


def test_up_refuses_a_name_in_both_tracks_before_anything_runs(
    db_url: str, db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    write(tmp_path, "migrate/20231231_000000_first.up.sql", "CREATE TABLE public.first (id int);")
    write(tmp_path, f"migrate/{SHARED}.up.sql", "CREATE TABLE public.t (id int);")
    write(tmp_path, f"seed/{SHARED}.up.sql", "INSERT INTO public.t VALUES (1);")
    for track in ("migrate", "seed"):
        with pytest.raises(DiscoveryError, match=f"the name {SHARED} is also used in "):
            sqlmig.apply(db_url, tmp_path, track=track)  # type: ignore[arg-type]
        result = CliRunner().invoke(main, [track, "up", "--database-url", db_url, "--dir", str(tmp_path)])
        assert result.exit_code == 4 and f"the name {SHARED} is also used in " in result.output, result.output
    assert db.execute("SELECT to_regclass('public.migration_history'), to_regclass('public.first')").fetchone() == (
        None,
        None,
    )


@pytest.mark.parametrize("at", [0, 10, _CHUNK - 1, _CHUNK, 3 * _CHUNK - 1])
def test_a_nul_byte_is_refused_with_its_line(tmp_path: Path, at: int) -> None:
    """A NUL ended the script sent to the server there: the rest of the migration, its history row and its COMMIT
    were dropped, and the run reported success. Small files are read whole, large ones in chunks."""
    line = b"INSERT INTO public.t VALUES (1);\r\n"
    body = bytearray(b"\xef\xbb\xbf" + line * (3 * _CHUNK // len(line) + 10) if at else b"SELECT '\0';\n")
    body[at + 3 if at else 8] = 0
    write(tmp_path, "migrate/20240101_000000_a.up.sql", bytes(body))
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, "migrate")
    [problem] = info.value.problems
    assert problem.line == 1 + (body[: at + 3].count(b"\n") if at else 0)
    assert problem.message.startswith("contains a NUL byte (\\0), which would end the SQL sent to the server there")
