"""Rendering: the one Jinja2 environment, and MigrationFile -> Migration.

Jinja2 is imported only when a templated file is rendered, so the no-op path never pays for it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import RenderError
from .model import Direction, Migration, MigrationFile, SqlFile
from .reader import read_checked

if TYPE_CHECKING:
    import jinja2

# Untemplated files larger than this are streamed from disk instead of being held in memory.
STREAM_THRESHOLD = 4 << 20
NO_TEMPLATE_HINT = (
    "if this file is plain SQL (e.g. an array literal '{{1,2}}'), add '-- sqlmig: no-template' at its top"
)
SANDBOX_HINT = (
    "templates run in a sandbox: use the variables (schema, vars, env.NAME for allowed environment variables) "
    "and filters such as ident and literal, not Python attributes or methods"
)


# A CR not followed by LF. Files are read with CRLF as LF, so what remains of CR is data: inside a string literal it
# is part of the value, and a line ends at LF only (as for psql, git and lint).
_LONE_CR = re.compile(r"\r(?!\n)")
# Characters that Jinja2 takes for whitespace inside a tag, as it takes a CR, but not for a line break: one absent
# from a template stands in for its lone CRs while Jinja2 reads it.
_CR_STAND_INS = (
    "\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
)


class AllowedEnvironment(dict[str, str]):
    """``env`` in templates: the allowed environment variables. Its own type, so that Jinja2's message for a
    variable that is not allowed names it and the error can say how to allow it."""


@dataclass(frozen=True)
class TemplateContext:
    """What templates see: ``schema``, the user's variables, and the allowed environment variables as ``env``."""

    schema: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The Jinja2 context; ``schema`` is absent when unset so that using it is an undefined-variable error."""
        ctx: dict[str, Any] = dict(self.vars)
        ctx["env"] = AllowedEnvironment(self.env)
        if self.schema is not None:
            ctx["schema"] = self.schema
        return ctx


def quote_ident(value: object) -> str:
    """Jinja2 filter ``ident``: the value as a double-quoted SQL identifier (``"a""b"``); never injectable."""
    from psycopg import sql

    return sql.Identifier(str(value)).as_string(None)


def quote_literal(value: object) -> str:
    """Jinja2 filter ``literal``: the value as an SQL literal (strings quoted and escaped, None as NULL)."""
    import jinja2
    from psycopg import sql

    if isinstance(value, jinja2.Undefined):
        str(value)  # raises the undefined-variable error, as any other use of the variable would
    # psycopg puts a space before E'...' literals (safe after an identifier); a template wants the bare literal.
    return sql.Literal(value).as_string(None).strip()


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: sandboxed and immutable, StrictUndefined, no autoescape, trailing newline kept,
    a lone CR kept as it is written (the lexer, defined here because Jinja2 is imported only to render), ident/literal
    filters, and a bound on the work of one render (:mod:`sqlmig.renderlimits`).

    Templates come with the files under review (``lint`` runs them on pull requests), so they must not reach
    Python's internals: ``cycler.__init__.__globals__`` would read every environment variable past the ``env``
    allow-list, and ``lipsum.__globals__`` would run shell commands. The sandbox refuses attributes that start with
    an underscore, and its immutable variant refuses methods that change a value (``list.append``), so that one
    template cannot change what the next one sees. Any refused access raises, never renders as an undefined value.
    """
    import jinja2

    from .sandbox import Sandbox

    class KeepingCarriageReturns(jinja2.lexer.Lexer):
        """Jinja2's lexer, except that a lone CR stays a CR: Jinja2 takes ``\\r`` for a line break and writes it
        out as LF, which would change what a string literal holds, and the lines findings and errors point at."""

        def tokeniter(
            self, source: str, name: str | None, filename: str | None = None, state: str | None = None
        ) -> Iterator[tuple[int, str, str]]:
            mark = next((c for c in _CR_STAND_INS if c not in source), None) if "\r" in source else None
            if mark is None:  # no lone CR (or, absurdly, every stand-in in the text): Jinja2's own reading
                yield from super().tokeniter(source, name, filename, state)
                return
            for lineno, token, value in super().tokeniter(_LONE_CR.sub(mark, source), name, filename, state):
                yield lineno, token, value.replace(mark, "\r")

        def _normalize_newlines(self, value: str) -> str:
            return value  # tokeniter already made every line break LF; the CRs left are data

    class Environment(Sandbox):
        @cached_property
        def lexer(self) -> jinja2.lexer.Lexer:  # built once: the environment's settings never change
            return KeepingCarriageReturns(self)

    env = Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # SQL, not HTML: values are quoted by the ident/literal filters
        keep_trailing_newline=True,
    )
    env.filters["ident"] = quote_ident
    env.filters["literal"] = quote_literal
    return env


def render(
    file: MigrationFile, direction: Direction, context: TemplateContext, template: str | None = None
) -> Migration:
    """Render one side of a migration. Raises :class:`RenderError` (file and line) on any template error.

    Untemplated files are used as they are; large ones are not read here but streamed at run time. A templated
    file is read (and checked against its checksum) unless its ``template`` text, read so before, is given.
    Reads the file; writes nothing.
    """
    source = file.up if direction == "up" else file.down
    if source is None:
        raise RenderError(file.up.path, 0, f"{file.name} has no .down.sql file")
    if not source.templated:
        sql = None if source.size > STREAM_THRESHOLD else read_checked(source)
        return Migration(file, direction, source, sql, source.checksum)
    template = read_checked(source) if template is None else template
    text = render_text(source.path, template, context)
    return Migration(file, direction, source, text, hashlib.sha256(text.encode()).hexdigest(), template)


def render_source(source: SqlFile, context: TemplateContext) -> str:
    """The text of any SQL file (a query or report, not only a migration) as sqlmig would send it: rendered with
    ``context`` when it is a template, as it is otherwise (BOM stripped, CRLF as LF). Raises :class:`RenderError`
    (file and line) on a template error, and :class:`~sqlmig.DiscoveryError` when the file changed since
    ``source`` was scanned. Reads the file; writes nothing."""
    text = read_checked(source)
    return render_text(source.path, text, context) if source.templated else text


def render_text(path: Path, text: str, context: TemplateContext) -> str:
    """Render template ``text`` read from ``path``; raises :class:`RenderError` naming the file and line, also when
    the template does more work than one render may (:mod:`sqlmig.renderlimits`)."""
    import jinja2
    from jinja2.exceptions import SecurityError

    from .renderlimits import BUDGET, LIMIT_HINT, MAX_OUTPUT, Budget, TemplateLimit

    token = BUDGET.set(Budget())
    try:
        return _generate(path, _compiled(text), context, len(text) + MAX_OUTPUT)
    except RenderError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(path, exc.lineno, exc.message or str(exc), NO_TEMPLATE_HINT) from exc
    except jinja2.UndefinedError as exc:
        raise RenderError(path, _template_line(exc.__traceback__), str(exc), _undefined_hint(str(exc))) from exc
    except SecurityError as exc:
        raise RenderError(path, _template_line(exc.__traceback__), str(exc), SANDBOX_HINT) from exc
    except TemplateLimit as exc:
        raise RenderError(path, _template_line(exc.__traceback__), str(exc), LIMIT_HINT) from exc
    except RecursionError as exc:
        message = "macros or recursive loops call themselves more deeply than Python allows"
        raise RenderError(path, _template_line(exc.__traceback__), message, LIMIT_HINT) from exc
    except Exception as exc:  # a filter or expression failing at render time
        raise RenderError(path, _template_line(exc.__traceback__), f"{type(exc).__name__}: {exc}") from exc
    finally:
        BUDGET.reset(token)


@lru_cache(maxsize=256)
def _compiled(text: str) -> jinja2.Template:
    """``text`` compiled in :func:`environment`, once per text: compiling takes milliseconds, rendering a small
    template a fraction of that, and a fan-out renders each template once per target. A template is immutable
    and may be rendered from many threads. Raises ``jinja2.TemplateSyntaxError`` (never cached)."""
    return environment().from_string(text)


def _generate(path: Path, template: jinja2.Template, context: TemplateContext, limit: int) -> str:
    """``template.render``, stopped once the output passes ``limit`` characters: the loops' and macros' own count
    is an estimate made before their text is output, this is the total actually output."""
    from .renderlimits import LIMIT_HINT, MAX_OUTPUT

    chunks: list[str] = []
    size = 0
    generator = template.root_render_func(template.new_context(context.as_dict()))
    try:
        for chunk in generator:
            size += len(chunk)
            if size > limit:
                frame = getattr(generator, "gi_frame", None)
                line = template.get_corresponding_lineno(frame.f_lineno) if frame is not None else 0
                message = f"the template rendered more than {MAX_OUTPUT:,} characters beyond the file's own text"
                raise RenderError(path, line, message, LIMIT_HINT)
            chunks.append(chunk)
    except RenderError:
        raise
    except Exception:
        template.environment.handle_exception()  # re-raises with the template's own line numbers
    return "".join(chunks)


def _undefined_hint(message: str) -> str:
    if message == "'schema' is undefined":
        return "pass --schema NAME (or set schema in [tool.sqlmig])"
    if AllowedEnvironment.__name__ in message:
        return "list the variable in [tool.sqlmig] env = [...] and set it in the environment"
    return f"pass it with --var NAME=VALUE (or [tool.sqlmig] vars); {NO_TEMPLATE_HINT}"


def _template_line(tb: TracebackType | None) -> int:
    # Jinja2 rewrites tracebacks so that template frames carry the template's own line numbers.
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _lines(text: str) -> list[str]:
    """The lines of ``text``, ended by LF only (``str.splitlines`` also breaks at CR, form feed and more)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def source_position(template: str | None, rendered: str, line: int, column: int) -> tuple[int, int]:
    """Map a (line, column) in SQL rendered from ``template`` back to the file the user wrote (as it is when
    ``template`` is None: the file is not a template).

    Rendering usually keeps the line structure, so lines map one to one; when it does not (loops, multi-line
    values), lines rendering left unchanged anchor the mapping, and a line in between maps to the most similar
    template line in between (a loop's output to the loop's body). The column is kept only when rendering left
    the line unchanged. Reads nothing.
    """
    if template is None:
        return line, column
    src = _lines(template)
    out = _lines(rendered)
    if not 0 < line <= len(out):
        return line, column
    if len(src) == len(out):
        return line, column if src[line - 1] == out[line - 1] else 1
    anchors = [(-1, -1)]
    for block in difflib.SequenceMatcher(a=src, b=out, autojunk=False).get_matching_blocks():
        anchors += [(block.a + k, block.b + k) for k in range(block.size)]
    target = line - 1
    for a, b in anchors:
        if b == target:
            return a + 1, column
    before = max((p for p in anchors if p[1] < target), key=lambda p: p[1])
    after = min((p for p in anchors if p[1] > target), key=lambda p: p[1], default=(len(src), len(out)))
    candidates = range(before[0] + 1, after[0]) or range(max(before[0], 0), max(before[0], 0) + 1)
    best = max(candidates, key=lambda i: difflib.SequenceMatcher(a=src[i], b=out[target]).ratio())
    return best + 1, 1
