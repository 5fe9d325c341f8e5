"""discover(): naming rule, pairing, every offending file listed, directives, checksums. No server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sqlmig.errors import DiscoveryError
from sqlmig.files import _CHUNK, discover, discover_tracks


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
