"""Streamed files: COPY data read from the file in raw blocks must give exactly what line-by-line reading gives.

Pure: no database. The block size is shrunk so that the ``\\.`` line, a CRLF and a multi-byte character fall on
every possible block boundary.
"""

from __future__ import annotations

import io

import pytest

from sqlmig import copydata, sqltext
from sqlmig.sqltext import CopyData, Statement, iter_statements
from sqlmig.stream import RawLines

SCRIPTS = {
    "copy then statements": "CREATE TABLE t (a int);\nCOPY t FROM stdin;\n1\tx\n2\ty\n\\.\nSELECT 1;\nSELECT 2;\n",
    "two copies": "COPY a FROM stdin;\n1\n\\.\nCOPY b FROM stdin;\n2\n3\n\\.\nSELECT 'after';\n",
    "empty data": "COPY t FROM stdin;\n\\.\nSELECT 1;\n",
    "empty row before the end": "COPY t FROM stdin;\n1\n\n\\.\nSELECT 1;\n",
    "not an end line": "COPY t FROM stdin;\n\\.x\n\\\\.\n \\.\n\\.\nSELECT 1;\n",
    "data to the end of the file": "COPY t FROM stdin;\n1\n2",
    "end line at the end of the file": "COPY t FROM stdin;\n1\n\\.",
    "crlf": "COPY t FROM stdin;\r\n1\tx\r\n2\ty\r\n\\.\r\nSELECT 1;\r\nSELECT\r\n 2;\r\n",
    "bom and non-ascii": "\ufeffCOPY t FROM stdin;\nżółw\t\U0001f422\n\\.\nSELECT 'ä';\n",
    "statement on the copy line after ;": "COPY t FROM stdin; SELECT 'x';\n1\n\\.\nSELECT 2;\n",
    "long lines": "COPY t FROM stdin;\n" + "x" * 300 + "\n" + "y" * 5 + "\n\\.\nSELECT 3;\n",
}


def _normalised(items: list[sqltext.Item]) -> tuple[list[object], str]:
    others: list[object] = []
    data: list[str] = []
    for item in items:
        if isinstance(item, CopyData):
            text = item.data if isinstance(item.data, str) else item.data.decode()
            data.append(text.replace("\r\n", "\n"))
            others.append("<data>") if not others or others[-1] != "<data>" else None
        else:
            others.append(item)
    return others, "".join(data)


def _by_lines(raw: bytes) -> list[sqltext.Item]:
    text = raw.decode("utf-8-sig").replace("\r\n", "\n")
    return list(iter_statements(io.StringIO(text)))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64, 1 << 20], ids=lambda c: f"block={c}")
@pytest.mark.parametrize("name", SCRIPTS)
def test_blocks_match_lines(name: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = SCRIPTS[name].encode()
    monkeypatch.setattr(sqltext, "_BATCH", 16)  # so that the splitter stops reading ahead soon after COPY
    monkeypatch.setattr(copydata, "CHUNK", chunk)
    expected = _by_lines(raw)
    got = list(iter_statements(RawLines(io.BytesIO(raw))))
    assert _normalised(got) == _normalised(expected)
    assert any(isinstance(i, CopyData) and isinstance(i.data, bytes) for i in got) or not _normalised(got)[1]


def test_data_goes_as_file_bytes() -> None:
    raw = b"COPY t FROM stdin;\n" + b"".join(b"%d\tline\r\n" % i for i in range(150000)) + b"\\.\r\nSELECT 1;\n"
    items = list(iter_statements(RawLines(io.BytesIO(raw))))
    chunks = [i.data for i in items if isinstance(i, CopyData)]
    raw_chunks = [c for c in chunks if isinstance(c, bytes)]
    assert len(raw_chunks) > 1 and chunks[-len(raw_chunks) :] == raw_chunks  # text read ahead, then raw blocks
    data = b"".join(raw_chunks)
    assert data.endswith(b"149999\tline\r\n") and data.count(b"\r\n") == data.count(b"\n")
    assert len(data) == len(raw) - len(b"COPY t FROM stdin;\n") - len(b"\\.\r\nSELECT 1;\n") - _read_ahead(items)
    last = items[-1]
    assert isinstance(last, Statement) and last.text == "SELECT 1" and last.line == 150003


def _read_ahead(items: list[sqltext.Item]) -> int:
    """The file bytes of the data that came as text (read ahead by the splitter before the raw blocks), whose
    CRLFs came as LFs."""
    texts = [i.data for i in items if isinstance(i, CopyData) and isinstance(i.data, str)]
    return sum(len(t.encode()) + t.count("\n") for t in texts)


def test_raw_lines_decode_like_text_mode() -> None:
    raw = "\ufeffSELECT 'ż';\r\nSELECT 2;\nSELECT 3;".encode()
    assert list(RawLines(io.BytesIO(raw))) == ["SELECT 'ż';\n", "SELECT 2;\n", "SELECT 3;"]


@pytest.mark.parametrize("cut", range(1, 12))
def test_text_after_the_data_cut_inside_a_character(cut: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = "COPY t FROM stdin;\n1\n\\.\nSELECT 'żółw';\r\nSELECT 2;\n".encode()
    monkeypatch.setattr(sqltext, "_BATCH", 4)
    monkeypatch.setattr(copydata, "CHUNK", cut)
    statements = [i for i in iter_statements(RawLines(io.BytesIO(raw))) if isinstance(i, Statement)]
    assert [(s.text, s.line) for s in statements[1:]] == [("SELECT 'żółw'", 4), ("SELECT 2", 5)]
