"""Rule SQM102, decided over the whole run: which schemas the up files create (in version order) and which they
use before any migration creates them, reported once per schema at its first use. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .finding import FileResult, Finding


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
