"""The lint rules' codes, severities and one-line summaries (:data:`RULES`): the table that the rule reference
(``docs/lint.md``), suppressions and the report use. The rules themselves are in :mod:`sqlmig.lint.rules` and
the modules it names.

Codes are grouped by family and never reused or renumbered: ``SQM0xx`` the files and their text, ``SQM1xx``
names and schemas, ``SQM2xx`` tracks, ``SQM3xx`` idempotency, ``SQM4xx`` operations unsafe on live tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A lint rule: its stable ``code``, its ``severity`` and a one-line ``summary``. Findings of rules that are
    not ``suppressible`` concern the file itself, which sqlmig would refuse to run, or the suppressions. Findings of
    ``measured`` rules are about the locks a statement takes or the rewrite it makes, which ``sqlmig explain``
    measures: their hints say so."""

    code: str
    severity: Severity
    summary: str
    suppressible: bool = True
    measured: bool = False


RULES: Mapping[str, Rule] = MappingProxyType(
    {
        rule.code: rule
        for rule in (
            Rule("SQM001", "error", "SQL that PostgreSQL's parser rejects", suppressible=False),
            Rule(
                "SQM002",
                "error",
                "a template that cannot be rendered with the given schema and variables",
                suppressible=False,
            ),
            Rule(
                "SQM003",
                "error",
                "a psql meta-command (\\connect, \\i, \\set, \\gexec, …) or COPY … TO STDOUT, which need psql",
                suppressible=False,
            ),
            Rule("SQM004", "warning", "an .up.sql file without its .down.sql"),
            Rule(
                "SQM005",
                "error",
                "a file sqlmig cannot use (its name, pairing, directives or encoding)",
                suppressible=False,
            ),
            Rule(
                "SQM006",
                "warning",
                "a malformed lint suppression: no or unknown rule code, or no reason",
                suppressible=False,
            ),
            Rule("SQM007", "warning", "a lint suppression that suppresses nothing", suppressible=False),
            Rule(
                "SQM008",
                "error",
                "BEGIN, COMMIT, ROLLBACK or PREPARE TRANSACTION in a file that runs in a transaction",
                suppressible=False,
            ),
            Rule(
                "SQM009",
                "error",
                "DISCARD ALL or pg_advisory_unlock*(), which would release the migration lock",
                suppressible=False,
            ),
            Rule("SQM010", "warning", "a file with no SQL statements (empty, or only comments)"),
            Rule("SQM101", "error", "a table, view, sequence, index, function, type or domain named without schema"),
            Rule("SQM102", "error", "a schema used before a migration (in version order) creates it"),
            Rule("SQM201", "error", "a schema change (DDL) in the seed track"),
            Rule(
                "SQM202",
                "warning",
                "a data change (DML: INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM) in the migrate track",
            ),
            Rule(
                "SQM301",
                "error",
                "CREATE TABLE/INDEX/SCHEMA/SEQUENCE/EXTENSION/MATERIALIZED VIEW or ADD COLUMN without IF NOT EXISTS",
            ),
            Rule("SQM302", "error", "CREATE VIEW/FUNCTION/PROCEDURE/TRIGGER/RULE without OR REPLACE"),
            Rule("SQM303", "error", "DROP (also DROP COLUMN/CONSTRAINT) without IF EXISTS"),
            Rule("SQM304", "error", "INSERT without ON CONFLICT or WHERE NOT EXISTS"),
            Rule(
                "SQM401",
                "warning",
                "CREATE INDEX without CONCURRENTLY on a table the file does not create",
                measured=True,
            ),
            Rule(
                "SQM402", "error", "CONCURRENTLY in a file that runs in a transaction (no '-- sqlmig: no-transaction')"
            ),
            Rule("SQM403", "error", "ADD COLUMN … NOT NULL without DEFAULT on a table the file does not create"),
            Rule(
                "SQM404", "warning", "ALTER COLUMN … TYPE that rewrites a table the file does not create", measured=True
            ),
            Rule(
                "SQM405",
                "warning",
                "ADD FOREIGN KEY or CHECK without NOT VALID on a table the file does not create",
                measured=True,
            ),
            Rule("SQM406", "error", "VACUUM in a migration"),
            Rule("SQM407", "error", "ALTER SYSTEM in a migration"),
            Rule("SQM408", "warning", "ALTER COLUMN … SET NOT NULL on a table the file does not create", measured=True),
            Rule(
                "SQM409",
                "warning",
                "ADD UNIQUE or PRIMARY KEY (not USING INDEX) on a table the file does not create",
                measured=True,
            ),
            Rule(
                "SQM410",
                "warning",
                "DROP INDEX without CONCURRENTLY, of an index the file does not create",
                measured=True,
            ),
            Rule(
                "SQM411",
                "warning",
                "ADD COLUMN that fills every row (volatile default, serial, identity, STORED)",
                measured=True,
            ),
            Rule("SQM412", "warning", "RENAME of a table or column that the file does not create"),
            Rule("SQM413", "warning", "DROP COLUMN in an .up.sql file, while the running application may read it"),
            Rule("SQM414", "warning", "ADD COLUMN … REFERENCES on a table the file does not create", measured=True),
            Rule("SQM415", "warning", "VALIDATE CONSTRAINT in the transaction that added it NOT VALID", measured=True),
            Rule("SQM416", "error", "an enum value used in the transaction that added it (ALTER TYPE … ADD VALUE)"),
            Rule("SQM417", "error", "a statement that cannot run in a transaction block, in a file that runs in one"),
            Rule("SQM418", "warning", "DDL on existing tables inside a DO block, which lint and reviewers cannot see"),
            Rule("SQM419", "error", "a SECURITY DEFINER function without SET search_path"),
            Rule(
                "SQM420",
                "warning",
                "UPDATE or DELETE without WHERE of a table the transaction locked with ALTER",
                measured=True,
            ),
            Rule(
                "SQM421",
                "warning",
                "REFRESH MATERIALIZED VIEW without CONCURRENTLY of a view the file does not create",
                measured=True,
            ),
            Rule("SQM422", "warning", "CLUSTER of a table the file does not create", measured=True),
            Rule("SQM423", "warning", "REINDEX TABLE or INDEX without CONCURRENTLY", measured=True),
        )
    }
)
