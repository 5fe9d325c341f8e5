"""Rendering: the one Jinja2 environment, and MigrationFile -> Migration.

Jinja2 is imported only when a templated file is rendered, so the no-op path never pays for it.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import RenderError
from .files import read_text
from .model import Direction, Migration, MigrationFile, SqlFile

if TYPE_CHECKING:
    import jinja2

# Untemplated files larger than this are streamed from disk instead of being held in memory.
STREAM_THRESHOLD = 4 << 20
NO_TEMPLATE_HINT = "if this file is plain SQL (e.g. an array literal '{{1,2}}'), add '-- sqlmig: no-template' at its top"


@dataclass(frozen=True)
class TemplateContext:
    """What templates see: ``schema``, the user's variables, and the allowed environment variables as ``env``."""

    schema: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The Jinja2 context; ``schema`` is absent when unset so that using it is an undefined-variable error."""
        ctx: dict[str, Any] = dict(self.vars)
        ctx["env"] = dict(self.env)
        if self.schema is not None:
            ctx["schema"] = self.schema
        return ctx


def quote_ident(value: object) -> str:
    """Jinja2 filter ``ident``: the value as a double-quoted SQL identifier (``"a""b"``); never injectable."""
    from psycopg import sql

    return sql.Identifier(str(value)).as_string(None)


def quote_literal(value: object) -> str:
    """Jinja2 filter ``literal``: the value as an SQL literal (strings quoted and escaped, None as NULL)."""
    from psycopg import sql

    return sql.Literal(value).as_string(None)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: StrictUndefined, no autoescape, trailing newline kept, ident/literal filters."""
    import jinja2

    env = jinja2.Environment(  # noqa: S701 - SQL, not HTML: escaping is done by the ident/literal filters
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["ident"] = quote_ident
    env.filters["literal"] = quote_literal
    return env


def render(file: MigrationFile, direction: Direction, context: TemplateContext) -> Migration:
    """Render one side of a migration. Raises :class:`RenderError` (file and line) on any template error.

    Untemplated files are used as they are; large ones are not read here but streamed at run time.
    Reads the file; writes nothing.
    """
    source = file.up if direction == "up" else file.down
    if source is None:
        raise RenderError(file.up.path, 0, f"{file.name} has no .down.sql file")
    if not source.templated:
        sql = None if source.size > STREAM_THRESHOLD else read_text(source.path)
        return Migration(file, direction, source, sql, source.checksum)
    text = render_text(source.path, read_text(source.path), context)
    return Migration(file, direction, source, text, hashlib.sha256(text.encode()).hexdigest())


def render_text(path: Path, text: str, context: TemplateContext) -> str:
    """Render template ``text`` read from ``path``; raises :class:`RenderError` naming the file and line."""
    import jinja2

    try:
        template = environment().from_string(text)
        return template.render(context.as_dict())
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(path, exc.lineno, exc.message or str(exc), NO_TEMPLATE_HINT) from exc
    except jinja2.UndefinedError as exc:
        hint = "pass --schema NAME (or set schema in [tool.sqlmig])" if "'schema'" in str(exc) else NO_TEMPLATE_HINT
        if "'schema'" not in str(exc) and "'env'" in str(exc):
            hint = "allow the variable in [tool.sqlmig] env = [...] and set it in the environment"
        raise RenderError(path, _template_line(exc.__traceback__), str(exc), hint) from exc
    except Exception as exc:  # a filter or expression failing at render time
        raise RenderError(path, _template_line(exc.__traceback__), f"{type(exc).__name__}: {exc}") from exc


def _template_line(tb: TracebackType | None) -> int:
    # Jinja2 rewrites tracebacks so that template frames carry the template's own line numbers.
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def source_position(source: SqlFile, rendered: str, line: int, column: int) -> tuple[int, int]:
    """Map a (line, column) in rendered SQL back to the file the user wrote.

    Rendering usually keeps the line structure, so lines map one to one; when it does not (loops, multi-line
    values), matching lines are aligned and a line produced by the template maps to the template line before it.
    The column is kept only when the line itself was not changed by rendering.
    """
    if not source.templated:
        return line, column
    src_lines = read_text(source.path).splitlines()
    out_lines = rendered.splitlines()
    mapped = line
    if len(src_lines) != len(out_lines):
        mapping = [0] * (len(out_lines) + 1)
        matcher = difflib.SequenceMatcher(a=src_lines, b=out_lines, autojunk=False)
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                mapping[block.b + k + 1] = block.a + k + 1
        for i in range(1, len(mapping)):
            mapping[i] = mapping[i] or mapping[i - 1] or 1
        mapped = mapping[line] if 0 < line < len(mapping) else line
    unchanged = 0 < mapped <= len(src_lines) and 0 < line <= len(out_lines)
    unchanged = unchanged and src_lines[mapped - 1] == out_lines[line - 1]
    return mapped, column if unchanged else 1
