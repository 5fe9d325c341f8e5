"""What the CLI's commands share: options, settings from flags, error handling, printing."""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from .. import config
from ..errors import DiscoveryError, SqlmigError
from ..model import Direction, InvalidIndexAction, Report, Track
from . import exits, output

if TYPE_CHECKING:
    from ..migrator import Migrator
    from ..preview import PreviewStep

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


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
    context: click.Context | None = click.get_current_context()
    names = []
    while context is not None and context.parent is not None:  # the root's name is the program's, however run
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(reversed(names))


def emit(body: dict[str, Any], exit_code: int = 0) -> None:
    """Print the running command's JSON document."""
    click.echo(output.document(command_name(), exit_code, body))


def overrides(group: Mapping[str, object], own: Mapping[str, object]) -> config.Overrides:
    """The settings a command's options give, as click parsed them: the command's own options (``own``) over its
    group's (``group``, the options given before the command name: ``sqlmig --dir x migrate up``). An option not
    given stays None, so that the environment and ``[tool.sqlmig]`` decide; options that are not settings (``--to``,
    ``--json``) are left out. Pure; raises :class:`~sqlmig.ConfigError` for a malformed ``--var``."""
    given = {**group, **{name: value for name, value in own.items() if value not in (None, ())}}
    return config.Overrides(
        database_url=_option(given, "database_url", str),
        directory=_option(given, "dir", Path),
        schema=_option(given, "schema", str),
        vars=config.parse_vars(_option(given, "var", tuple) or ()) or None,
        history_table=_option(given, "history_table", str),
        lock_wait=_option(given, "lock_wait", float),
        allow_out_of_order=_option(given, "allow_out_of_order", bool),
        lock_timeout=_option(given, "lock_timeout", str),
        statement_timeout=_option(given, "statement_timeout", str),
        lock_retries=_option(given, "lock_retries", int),
        # click.Choice lets only the actions through, and config.resolve checks them again.
        invalid_index=cast("InvalidIndexAction | None", _option(given, "invalid_index", str)),
        role=_option(given, "role", str),
        wait=_option(given, "wait", float),
        lint=_option(given, "lint", bool),
        idempotent=_option(given, "idempotent", bool),
    )


def _option(given: Mapping[str, object], name: str, kind: type[T]) -> T | None:
    """The value of option ``name``, None when it was not given. Raises ``TypeError`` when click parsed it into
    another type than ``kind``: the option's declaration and this module disagree."""
    value = given.get(name)
    if value is None or isinstance(value, kind):
        return value
    raise TypeError(f"option {name!r}: expected {kind.__name__}, got {type(value).__name__}")


def database(given: config.Overrides, quiet: bool = False) -> str | None:
    """The URL to pass on: the flag's; None when the environment, .env or config has one (the library resolves it
    and knows where it came from); else the embedded server's (started if needed), announced on the first line."""
    if given.database_url:
        return given.database_url
    if config.resolve().database_url:
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


def migrator(given: config.Overrides, quiet: bool = False) -> Migrator:
    """The Migrator of a command: its settings resolved from ``given`` over the environment and the configuration,
    its server the one :func:`database` finds (which may start the embedded one and announce it, on stderr when
    ``quiet``). Reads files; raises :class:`~sqlmig.ConfigError` for an invalid setting."""
    from ..migrator import Migrator

    url = database(given, quiet)
    return Migrator(config.resolve(dataclasses.replace(given, database_url=url)), url)


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
