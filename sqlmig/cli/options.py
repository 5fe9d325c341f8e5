"""What the CLI's commands share: options, settings from flags, error handling, printing."""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import config
from ..errors import DiscoveryError, SqlmigError
from ..model import Direction, Report, Track
from . import exits, output

if TYPE_CHECKING:
    from ..preview import PreviewStep

F = TypeVar("F", bound=Callable[..., Any])
COMMON = ("database_url", "dir", "schema", "var", "history_table", "wait")
LIMITS = ("lock_timeout", "statement_timeout", "lock_retries", "role")


class Command(click.Command):
    """A command whose summary in its group's help is the first sentence of its help, whole: click would cut it to
    the terminal's width, mid-phrase ("Print a migration file as sqlmig would run it, its template...")."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(sys.maxsize)


class Group(click.Group):
    """A group whose own summary is whole, as :class:`Command`'s, and whose commands and groups are of these
    classes too."""

    command_class = Command
    group_class = type  # click's way of saying: subgroups are of this same class

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(sys.maxsize)


def common_options(f: F) -> F:
    """The options every command accepts, before or after the command name (``sqlmig --dir x migrate up``)."""
    f = click.option(
        "--wait", type=float, metavar="SECONDS", help="Keep trying to reach a server that is not up yet [0]."
    )(f)
    f = click.option("--history-table", help="History table, schema.table [public.migration_history].")(f)
    f = click.option("--var", multiple=True, metavar="NAME=VALUE", help="Template variable (repeatable).")(f)
    f = click.option("--schema", help="Value of {{ schema }} in templates.")(f)
    f = click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")(
        f
    )
    f = click.option(
        "--database-url", metavar="URL", help="PostgreSQL URL [SQLMIG_DATABASE_URL, DIRECT_URL, DATABASE_URL]."
    )(f)
    return f


def limit_options(f: F) -> F:
    """The options of commands that run migrations: timeouts, retries and the role."""
    f = click.option("--role", help="SET ROLE to this role for the migrations, so that it owns what they create.")(f)
    f = click.option(
        "--lock-retries", type=click.IntRange(min=0), help="Tries after a lock timeout, with backoff [3]."
    )(f)
    f = click.option("--statement-timeout", metavar="DURATION", help="statement_timeout per migration [1h].")(f)
    f = click.option("--lock-timeout", metavar="DURATION", help="lock_timeout per migration, e.g. 5s, 500ms [5s].")(f)
    return f


def limits(opts: dict[str, Any]) -> dict[str, Any]:
    """Take the options of :func:`limit_options` out of ``opts``."""
    return {k: opts.pop(k) for k in LIMITS}


def settings(ctx: click.Context, opts: dict[str, Any]) -> dict[str, Any]:
    merged = dict(ctx.find_root().params)
    merged.update({k: v for k, v in opts.items() if k in COMMON and v not in (None, ())})
    return merged


MISSING_FOLDER = (
    "migrations folder not found: pass the folder that holds migrate/ and seed/ with --dir or as directory in "
    "[tool.sqlmig], or create this one"
)


def cli_wording(message: str) -> str:
    """``message``, a file problem's, as the CLI says it: the library's advice names its ``directory`` argument,
    where a CLI user passes ``--dir``."""
    from ..files import MISSING_FOLDER as LIBRARY_WORDING

    return MISSING_FOLDER if message == LIBRARY_WORDING else message


def _cli_error(exc: SqlmigError) -> SqlmigError:
    """``exc`` with its file problems in the CLI's words (:func:`cli_wording`)."""
    if type(exc) is not DiscoveryError:
        return exc
    problems = [dataclasses.replace(p, message=cli_wording(p.message)) for p in exc.problems]
    return exc if tuple(problems) == exc.problems else DiscoveryError(problems)


def handle_errors(f: F) -> F:
    """Turn sqlmig's errors into a message on stderr (passwords redacted) and the error's exit code
    (:func:`exits.exit_code`); with ``--json``, also the error's JSON document on stdout."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except SqlmigError as caught:
            exc = _cli_error(caught)
            code = exits.exit_code(exc)
            click.echo(f"error: {config.redact(str(exc))}", err=True)
            if kwargs.get("as_json"):
                click.echo(output.document(command_name(), code, {"error": output.error_dict(exc, config.redact)}))
            sys.exit(code)

    return wrapper  # type: ignore[return-value]


def command_name() -> str:
    """The running command without the program name: ``migrate up``, ``lint``."""
    return click.get_current_context().command_path.partition(" ")[2]


def emit(body: dict[str, Any], exit_code: int = 0) -> None:
    """Print the running command's JSON document."""
    click.echo(output.document(command_name(), exit_code, body))


def database(opts: dict[str, Any], quiet: bool = False) -> str | None:
    """The URL to pass on: the flag's; None when the environment, .env or config has one (the API resolves it and
    knows where it came from); else the embedded server's (started if needed), announced on the first line."""
    if opts["database_url"]:
        return str(opts["database_url"])
    if config.load().database_url:
        return None
    from .. import devdb

    server, started = devdb.start()
    what = "started" if started else "running"
    click.echo(
        f"Using the embedded PostgreSQL {server.version} in {server.data_dir.parent} ({what}; no DATABASE_URL set; "
        "'sqlmig dev stop' stops it)",
        err=quiet,
    )
    if server.note:
        click.echo(f"note: {server.note}", err=True)
    return server.url


def api_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "directory": opts["dir"],
        "history_table": opts["history_table"],
        "wait": opts["wait"],
    }


def templating(opts: dict[str, Any]) -> dict[str, Any]:
    return {"schema": opts["schema"], "vars": config.parse_vars(opts["var"]) or None}


def log_steps(to_stderr: bool) -> None:
    handler = logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("sqlmig")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def finish(body: dict[str, Any], text: str, code: int, as_json: bool) -> None:
    """Print the command's JSON document (``body``) or ``text``, then exit with ``code`` unless it is 0."""
    if as_json:
        emit(body, code)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    if code:
        sys.exit(code)


def print_preview(steps: Sequence[PreviewStep], track: Track, direction: Direction, as_json: bool) -> None:
    """What a dry run found: each migration's SQL under a header comment, or the JSON document."""
    if as_json:
        emit(output.preview_dict(steps, track, direction))
    else:
        click.echo(output.preview_text(steps, track, direction))


def print_report(report: Report, as_json: bool) -> None:
    """The report of ``up`` or ``down``: a summary line, or its JSON document."""
    if as_json:
        emit(output.report_dict(report))
    else:
        click.echo(output.report_text(report))
