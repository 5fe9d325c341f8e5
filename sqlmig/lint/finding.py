"""What linting finds: a :class:`Finding`, and a :class:`FileResult`, the findings of one file with the schemas
its statements create and use (which only the whole run can judge: rule SQM102), and the tables it creates and
indexes ``ON ONLY`` (SQM401 there depends on how an earlier migration created the table).

Plain data, light to import: a run answered from the cache (:mod:`sqlmig.lint.cache`) needs these and not the
parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Finding:
    """One broken rule: its ``code`` and ``severity``, where it is (``path``, 1-based ``line`` and ``column`` in
    the file as written, before rendering), what is wrong (``message``) and what to write instead (``hint``)."""

    code: str
    severity: Literal["error", "warning"]
    path: Path
    line: int
    column: int
    message: str
    hint: str


@dataclass(frozen=True)
class SchemaEvent:
    """A schema that the statement numbered ``statement`` of a file creates (``use`` None), or uses before the
    file itself creates it (``use``: the SQM102 finding to report if no earlier migration creates it either)."""

    statement: int
    schema: str
    use: Finding | None = None


@dataclass(frozen=True)
class TableEvent:
    """A table that a file creates (``use`` None; ``partitioned`` says whether it is a partitioned table), or an
    index that it builds ``ON ONLY`` a table it did not create (``use``: the SQM401 finding to report if an earlier
    migration created that table as a plain one, on which ONLY changes nothing and the index is built)."""

    schema: str | None
    table: str
    partitioned: bool = False
    use: Finding | None = None


@dataclass(frozen=True)
class FileResult:
    """What linting one file found, whatever rules a run reports: every finding but SQM102 and those of
    ``tables``, after the file's suppressions; its schema events in statement order (SQM102 needs every file: see
    :class:`sqlmig.lint.ledger.SchemaLedger`) and its table events (:class:`sqlmig.lint.ledger.TableLedger`)."""

    findings: tuple[Finding, ...]
    schemas: tuple[SchemaEvent, ...] = ()
    tables: tuple[TableEvent, ...] = ()
