"""The one validation: what sqlmig refuses to run in a migration's text, whatever the file's size and whoever asks.

``up``, ``--dry-run`` and ``verify`` (through :func:`sqlmig.run.execute.statements_of`) and ``lint`` (through
:mod:`sqlmig.lint.file`) pass every item of a file through one :class:`Validation`, so that they refuse the same
files for the same reasons:

- a psql meta-command (SQM003), on a line of its own or after SQL (``SELECT ... \\gexec``): only psql can run it;
- ``COPY ... TO STDOUT`` (SQM003 too): its rows would go to psql's output, and a migration has none;
- a NUL byte in rendered text (SQM005; discovery finds it in the files themselves): it would end the SQL sent there;
- ``BEGIN``/``COMMIT``/``ROLLBACK``/``PREPARE TRANSACTION`` in a transactional file (SQM008): sqlmig already runs
  each migration in one transaction, and its history row must commit with it;
- ``DISCARD ALL`` and calls of ``pg_advisory_unlock*()`` (SQM009): they would quietly release the migration lock.

A file with no statement at all (SQM010) is only warned about: it is applied and recorded like any other.
:func:`needs_split` tells cheaply, from the raw bytes, whether a large file needs the statement-by-statement check.
Pure: no files, no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import DiscardMode, TransactionStmtKind
from pglast.parser import ParseError, scan

from .files import NUL_ADVICE, NUL_MESSAGE
from .sqlscan import lex
from .sqltext import CopyData, Item, MetaCommand, Statement, locate
from .sqltree import walk

META, NUL, TX_CONTROL, LOCK_RELEASE, NO_STATEMENTS = "SQM003", "SQM005", "SQM008", "SQM009", "SQM010"
_TX_ADVICE = "remove BEGIN/COMMIT, or add '-- sqlmig: no-transaction' at its top"
_COPY_OUT_ADVICE = (
    "remove it; if the rows are meant for a file on the database server, write COPY ... TO '/path/on/server'"
)
_UNLOCK_ADVICE = (
    "remove it; for a lock of the migration's own, take pg_advisory_xact_lock(...), which the migration's "
    "transaction releases"
)

# First words of the statements that may end or release something; only these are parsed.
_TX_WORDS = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE"})
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_UNLOCK = "advisory_unlock"
# The transaction kinds that begin, end or hand over the migration's transaction (savepoints are fine).
_ENDS = {
    TransactionStmtKind.TRANS_STMT_BEGIN,
    TransactionStmtKind.TRANS_STMT_START,
    TransactionStmtKind.TRANS_STMT_COMMIT,
    TransactionStmtKind.TRANS_STMT_ROLLBACK,
    TransactionStmtKind.TRANS_STMT_PREPARE,
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
}


@dataclass(frozen=True)
class Problem:
    """Something the validation found: its lint ``code``, where (1-based ``line`` and ``column`` in the text as
    checked, i.e. rendered), what is wrong (``message``) and what to do (``advice``). ``refused`` is False for a
    warning: the file still runs."""

    code: str
    line: int
    column: int
    message: str
    advice: str

    @property
    def refused(self) -> bool:
        """Whether sqlmig refuses to run a file with this problem."""
        return self.code != NO_STATEMENTS

    def __str__(self) -> str:
        return f"{self.message}: {self.advice}"


class Validation:
    """The checks of one file, fed its items in order (:meth:`check`), then :meth:`finish`. ``transactional`` is
    False for a ``-- sqlmig: no-transaction`` file; ``templated`` files may render to nothing on purpose."""

    def __init__(self, *, transactional: bool, templated: bool) -> None:
        self.transactional = transactional
        self.templated = templated
        self.statements = 0

    def check(self, item: Item) -> list[Problem]:
        """The problems of one item of the file."""
        if isinstance(item, MetaCommand):
            return [Problem(META, item.line, 1, *meta_advice(item.command))]
        if isinstance(item, CopyData):
            return []
        self.statements += 1
        # A backslash outside quotes and comments starts a psql meta-command wherever it is on a line; only the
        # statements that hold a backslash at all are scanned.
        if "\\" in item.text and (meta := _meta_after_sql(item)) is not None:
            return [meta]
        match = _FIRST_WORD.match(item.text)
        first = match[0].upper() if match else ""
        if first == "COPY" and not item.copy and _copies_to_stdout(item.text):
            message = "COPY ... TO STDOUT sends its rows to the client, and a migration's output goes nowhere"
            return [Problem(META, item.line, item.column, message, _COPY_OUT_ADVICE)]
        if first in _TX_WORDS and self.transactional and _ends_transaction(item.text):
            message = f"'{first}' controls the transaction, but sqlmig already runs each migration in one"
            return [Problem(TX_CONTROL, item.line, item.column, message, _TX_ADVICE)]
        # Only statements that start with DISCARD or name an unlock function are parsed.
        if first == "DISCARD" or _UNLOCK in item.text.lower():
            return _lock_release(item)
        return []

    def finish(self) -> list[Problem]:
        """The problems of the file as a whole, once every item was checked."""
        if self.statements or self.templated:
            return []
        message = "contains no SQL statements (it is empty or holds only comments)"
        advice = "it is applied and recorded as it is; write the migration, or delete the file if it is not needed"
        return [Problem(NO_STATEMENTS, 1, 1, message, advice)]


def validate(items: Iterable[Item], *, transactional: bool, templated: bool) -> list[Problem]:
    """Every problem of a file given as its items (:func:`sqlmig.sqltext.iter_statements`), in file order."""
    validation = Validation(transactional=transactional, templated=templated)
    found = [problem for item in items for problem in validation.check(item)]
    return found + validation.finish()


def nul_problem(text: str) -> Problem | None:
    """A NUL character in ``text`` (rendered SQL), which the splitter and the server would take as its end."""
    at = text.find("\0")
    if at < 0:
        return None
    line = text.count("\n", 0, at) + 1
    return Problem(NUL, line, at - text.rfind("\n", 0, at), NUL_MESSAGE, NUL_ADVICE)


def _meta_after_sql(item: Statement) -> Problem | None:
    """A psql meta-command within a statement's text (a backslash token outside quotes and comments), as psql
    reads it: the backslash and the letters after it, up to a blank or another backslash."""
    tokens = lex(scan, item.text)[0]
    at = next((t.start for t in tokens if t.name == "ASCII_92"), None)
    if at is None:
        return None
    end = at + 1
    while end < len(item.text) and not item.text[end].isspace() and item.text[end] != "\\":
        end += 1
    line, column = locate(item, at + 1)
    return Problem(META, line, column, *meta_advice(item.text[at:end]))


def _copies_to_stdout(text: str) -> bool:
    try:
        stmts = parse_sql(text)
    except ParseError:  # the server rejects it too, before it does anything
        return False
    return any(isinstance(s.stmt, ast.CopyStmt) and not s.stmt.is_from and s.stmt.filename is None for s in stmts)


def _ends_transaction(text: str) -> bool:
    try:
        stmts = parse_sql(text)
    except ParseError:  # the server rejects it too, before it does anything
        return False
    return any(isinstance(s.stmt, ast.TransactionStmt) and s.stmt.kind in _ENDS for s in stmts)


def _lock_release(item: Statement) -> list[Problem]:
    try:
        stmts = parse_sql(item.text)
    except ParseError:
        return []
    for raw in stmts:
        stmt = raw.stmt
        if isinstance(stmt, ast.DiscardStmt) and stmt.target == DiscardMode.DISCARD_ALL:
            message = "DISCARD ALL releases every advisory lock of the session, sqlmig's migration lock included"
            advice = "remove it: every migration already starts from the connection's own session settings"
            return [Problem(LOCK_RELEASE, item.line, item.column, message, advice)]
        if isinstance(stmt, ast.CreateFunctionStmt):
            continue  # a function body runs when it is called, not when it is created
        if isinstance(stmt, ast.DoStmt) and _UNLOCK in item.text.lower():
            # A DO body is code that runs now, but only a string to the parser: its text is all there is to go by.
            message = "this DO block calls pg_advisory_unlock*(), which can release sqlmig's migration lock"
            return [Problem(LOCK_RELEASE, item.line, item.column, message, _UNLOCK_ADVICE)]
        for node in walk(stmt):
            name = _function_name(node)
            if name is not None and name.startswith("pg_advisory_unlock"):
                line, column = locate(item, node.location + 1) if node.location >= 0 else (item.line, item.column)
                message = f"{name}() releases advisory locks of the session, and can release sqlmig's migration lock"
                return [Problem(LOCK_RELEASE, line, column, message, _UNLOCK_ADVICE)]
    return []


def _function_name(node: Any) -> str | None:
    if not isinstance(node, ast.FuncCall) or not node.funcname:
        return None
    return str(node.funcname[-1].sval).lower()


def meta_advice(command: str) -> tuple[str, str]:
    """Why a psql meta-command cannot stay in a migration file, and what to do instead."""
    # Compared as written: psql's command names are case-sensitive (\\C sets a table title, \\c connects).
    if command in ("\\restrict", "\\unrestrict"):
        todo = "remove both lines pg_dump wrote, the \\restrict at the top and the \\unrestrict at the end"
    elif command in ("\\c", "\\connect"):
        todo = (
            "remove the line; to migrate another database, give it its own migrations folder and URL "
            "(--dir, --database-url)"
        )
    elif command in ("\\i", "\\ir", "\\include", "\\include_relative"):
        todo = "put the SQL of the included file in its place"
    elif command.startswith("\\g") and command not in ("\\getenv", "\\gdesc"):
        todo = (
            "end the statement with ';' instead; for \\gexec, write the statements it would run into the file, or "
            "run them with EXECUTE in a DO block"
        )
    elif command in ("\\set", "\\unset"):
        todo = "remove the line and use a template variable instead: {{ name }} in the file, --var name=VALUE"
    else:
        todo = "remove the line"
    return f"{command} is a psql meta-command, but sqlmig sends SQL to the server itself, not through psql", todo


# Where a statement may start: after ';', at the start of a chunk (a line start, so also of the file), and after
# what ends a comment: a line end (only after a '--' comment), a CR, or '*/'. Any backslash may start a
# meta-command, and 'stdout' may end a COPY ... TO STDOUT: a chunk holding either is split.
# The text is lowered first, because case-insensitive patterns are searched several times slower; the rarer
# anchors are searched for only in chunks that hold them.
_KEYWORDS = rb"(?:begin|start|commit|end|rollback|abort|prepare|discard)\b"
_WS = rb"[ \t\n\r\f\v]*"
_AT_START = re.compile(_WS + _KEYWORDS)
_AFTER_SEMICOLON = re.compile(rb";" + _WS + _KEYWORDS)
_ANYWHERE = (_UNLOCK.encode(), b"from stdin", b"\\", b"stdout")
_RARER = (
    (b"--", re.compile(rb"\n" + _WS + _KEYWORDS)),
    (b"\r", re.compile(rb"\r" + _WS + _KEYWORDS)),
    (b"*/", re.compile(rb"\*/" + _WS + _KEYWORDS)),
)


def needs_split(chunks: Iterable[bytes]) -> bool:
    """Whether a file given as raw byte ``chunks`` (UTF-8, BOM stripped, each ending at a line end) must be split
    into statements to be checked. False is certain to mean that :class:`Validation` refuses nothing in it: nowhere
    is there a transaction or DISCARD keyword where a statement may start, a backslash, 'stdout', or the name of an
    unlock function, one of which every refusal needs. On a 50 MB seed of INSERTs this pass costs a few
    percent of the server's time, a tenth of a split; COPY data, which the splitter passes over in blocks faster
    than this pass reads it, sends the file to the splitter at once."""
    for chunk in chunks:
        low = chunk.lower()
        if any(marker in low for marker in _ANYWHERE) or _AT_START.match(low) or _AFTER_SEMICOLON.search(low):
            return True
        if any(marker in low and pattern.search(low) for marker, pattern in _RARER):
            return True
    return False
