"""What only the whole run can decide, from the up files in version order: rule SQM102 (which schemas the files
create, and which they use before any migration creates them, reported once per schema at its first use), and
SQM401 for an index ``ON ONLY`` a table (reported when an earlier migration created it as a plain table). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .finding import FileResult, Finding, TableEvent


@dataclass
class SchemaLedger:
    """The schemas that the up files added so far create (with the migration that creates each), and the uses of
    schemas not created at that point, each with whether its file is reported (``--since`` reads the others only
    for what they create)."""

    created: dict[str, str] = field(default_factory=dict)
    uses: list[tuple[Finding, str, bool]] = field(default_factory=list)

    def add(self, result: FileResult, migration: str, reported: bool = True) -> None:
        """Take in the schema events of the up file of ``migration``, the next in version order."""
        for event in result.schemas:
            if event.use is None:
                self.created.setdefault(event.schema, migration)
            elif event.schema not in self.created:
                self.uses.append((event.use, event.schema, reported))

    def finish(self, complete: bool) -> list[Finding]:
        """SQM102 findings, one per schema, at its first use in a reported file, saying how many other statements
        use it: schemas used before the migration that creates them and, when ``complete`` (the files were every
        migration of the project), schemas no migration creates."""
        by_schema: dict[str, list[tuple[Finding, bool]]] = {}
        for finding, schema, reported in self.uses:
            by_schema.setdefault(schema, []).append((finding, reported))
        found = []
        for schema, uses in by_schema.items():
            first = next((f for f, reported in uses if reported), None)
            if schema in self.created:
                message = f'schema "{schema}" is used before {self.created[schema]} creates it'
            elif complete:
                message = f'schema "{schema}" is used, but no migration creates it'
            else:
                continue
            if first is None:
                continue
            if len(uses) > 1:
                files = len({f.path for f, _ in uses})
                where = f", in {files} files" if files > 1 else ""
                message += f" (and {len(uses) - 1} more statements use it{where})"
            found.append(replace(first, message=message))
        return found


@dataclass
class TableLedger:
    """The tables that the up files added so far create, each with whether it is partitioned, and the SQM401
    findings of indexes built ``ON ONLY`` a table that an earlier file created as a plain one (ONLY is written for
    a partitioned table, where the index builds nothing; on a plain table it changes nothing)."""

    partitioned: dict[tuple[str | None, str], bool] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, result: FileResult, reported: bool = True) -> None:
        """Take in the table events of the next up file in version order; ``reported`` False for a file that
        ``--since`` reads only for what it creates."""
        for event in result.tables:
            if event.use is not None and reported and self._plain(event):
                self.findings.append(event.use)
        for event in result.tables:
            if event.use is None:  # a later file may drop a table and create it again, partitioned or not
                self.partitioned[event.schema, event.table] = event.partitioned

    def _plain(self, event: TableEvent) -> bool:
        """Whether the table an ON ONLY index names is known to be plain (a name without a schema on either side
        matches any schema)."""
        kinds = [
            partitioned
            for (schema, table), partitioned in self.partitioned.items()
            if table == event.table and (schema == event.schema or None in (schema, event.schema))
        ]
        return bool(kinds) and not any(kinds)
