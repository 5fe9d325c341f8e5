"""The ``sqlmig`` command: each command parses options, calls one API function and prints its result.

Exit codes: 0 success (nothing to do included), 1 a migration's SQL failed, 2 usage error, 3 ``status
--exit-code`` found pending migrations, 4 invalid files, templates or plan (drift, missing file, out of order),
5 configuration or connection error, 6 the migration lock was not free in time.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__, config, output
from .errors import SqlmigError
from .model import Report, StatusReport, Track

F = TypeVar("F", bound=Callable[..., Any])
EXIT_PENDING = 3
_COMMON = ("database_url", "dir", "schema", "var", "history_table", "wait")
_LIMITS = ("lock_timeout", "statement_timeout", "lock_retries", "role")


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


def _limits(opts: dict[str, Any]) -> dict[str, Any]:
    """Take the options of :func:`limit_options` out of ``opts``."""
    return {k: opts.pop(k) for k in _LIMITS}


def _settings(ctx: click.Context, opts: dict[str, Any]) -> dict[str, Any]:
    merged = dict(ctx.find_root().params)
    merged.update({k: v for k, v in opts.items() if k in _COMMON and v not in (None, ())})
    return merged


def handle_errors(f: F) -> F:
    """Turn sqlmig's errors into a message on stderr (passwords redacted) and the error's exit code."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except SqlmigError as exc:
            click.echo(f"error: {config.redact(str(exc))}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def _database(opts: dict[str, Any], quiet: bool = False) -> str | None:
    """The URL to pass on: the flag's; None when the environment, .env or config has one (the API resolves it and
    knows where it came from); else the embedded server's (started if needed), announced on the first line."""
    if opts["database_url"]:
        return str(opts["database_url"])
    if config.load().database_url:
        return None
    from . import devdb

    server, started = devdb.start()
    what = "started" if started else "running"
    click.echo(
        f"Using the embedded PostgreSQL {server.version} in {server.data_dir.parent} ({what}; no DATABASE_URL set; "
        "'sqlmig dev stop' stops it)",
        err=quiet,
    )
    return server.url


def _api_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "directory": opts["dir"],
        "history_table": opts["history_table"],
        "wait": opts["wait"],
    }


def _templating(opts: dict[str, Any]) -> dict[str, Any]:
    return {"schema": opts["schema"], "vars": config.parse_vars(opts["var"]) or None}


def _log_steps(to_stderr: bool) -> None:
    handler = logging.StreamHandler(sys.stderr if to_stderr else sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("sqlmig")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _print_report(report: Report, as_json: bool) -> None:
    click.echo(output.report_json(report) if as_json else output.report_text(report))


def _print_status(report: StatusReport, as_json: bool) -> None:
    click.echo(output.status_json(report) if as_json else output.status_text(report))


EXIT_CODES = (
    "\b\nExit codes: 0 success (nothing to do included), 1 a migration's SQL failed, 2 usage error,\n"
    "3 status --exit-code found pending migrations, 4 invalid files, templates or plan (drift, missing\n"
    "file, out of order), 5 configuration or connection error, 6 the migration lock was not free in time."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="sqlmig")
@common_options
def main(**_: Any) -> None:
    """Raw-SQL PostgreSQL migrations: timestamped up/down files in migrations/migrate and migrations/seed."""


def _track_group(track: Track) -> click.Group:
    noun = "schema migrations (DDL)" if track == "migrate" else "seeds (DML; run after the migrations)"

    @click.group(name=track, help=f"Apply, roll back and inspect {noun}.")
    def group() -> None:
        pass

    @group.command(help=f"Apply every pending {track} file, oldest first.")
    @common_options
    @limit_options
    @click.option("--single-transaction", is_flag=True, help="Apply all pending files in one transaction.")
    @click.option(
        "--invalid-index",
        type=click.Choice(["drop", "refuse"]),
        help="What to do with an INVALID index left by a failed CREATE INDEX CONCURRENTLY [drop].",
    )
    @click.option("--lock-wait", type=float, metavar="SECONDS", help="How long to wait for the migration lock [300].")
    @click.option(
        "--allow-out-of-order",
        is_flag=True,
        default=None,
        help="Apply pending files older than the newest applied one.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_context
    @handle_errors
    def up(
        ctx: click.Context,
        /,
        single_transaction: bool,
        invalid_index: str | None,
        lock_wait: float | None,
        allow_out_of_order: bool | None,
        as_json: bool,
        **opts: Any,
    ) -> None:
        from . import api

        limits = _limits(opts)
        opts = _settings(ctx, opts)
        url = _database(opts, quiet=as_json)
        _log_steps(to_stderr=as_json)
        report = api.apply(
            url,
            track=track,
            single_transaction=single_transaction,
            invalid_index=invalid_index,
            lock_wait=lock_wait,
            allow_out_of_order=allow_out_of_order,
            **limits,
            **_api_kwargs(opts),
            **_templating(opts),
        )
        _print_report(report, as_json)

    @group.command(help=f"Roll back applied {track} files, newest first: one by default.")
    @common_options
    @limit_options
    @click.option("--steps", type=click.IntRange(min=1), help="Roll back this many.")
    @click.option("--to", "to", metavar="VERSION", help="Roll back everything newer than VERSION.")
    @click.option("--all", "all_", is_flag=True, help="Roll back everything.")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation of --all on a terminal.")
    @click.option("--lock-wait", type=float, metavar="SECONDS", help="How long to wait for the migration lock [300].")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_context
    @handle_errors
    def down(
        ctx: click.Context,
        /,
        steps: int | None,
        to: str | None,
        all_: bool,
        yes: bool,
        lock_wait: float | None,
        as_json: bool,
        **opts: Any,
    ) -> None:
        from . import api

        if sum(x is not None and x is not False for x in (steps, to, all_ or None)) > 1:
            raise click.UsageError("use only one of --steps, --to and --all")
        limits = _limits(opts)
        opts = _settings(ctx, opts)
        url = _database(opts, quiet=as_json)
        if all_ and not yes and sys.stdin.isatty():
            click.confirm(f"Roll back ALL applied {track} files?", abort=True)
        _log_steps(to_stderr=as_json)
        report = api.rollback(
            url,
            track=track,
            steps=steps or 1,
            to=to,
            all=all_,
            lock_wait=lock_wait,
            **limits,
            **_api_kwargs(opts),
            **_templating(opts),
        )
        _print_report(report, as_json)

    @group.command(name="status", help=f"Show the state of every {track} file.")
    @common_options
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--exit-code", is_flag=True, help=f"Exit with {EXIT_PENDING} when something is pending.")
    @click.pass_context
    def track_status(ctx: click.Context, /, as_json: bool, exit_code: bool, **opts: Any) -> None:
        ctx.invoke(status, as_json=as_json, exit_code=exit_code, tracks=(track,), **opts)

    @group.command(help="Accept edits of applied files: store their current checksums (all drifted ones, or NAMES).")
    @common_options
    @click.argument("names", nargs=-1)
    @click.pass_context
    @handle_errors
    def accept(ctx: click.Context, /, names: tuple[str, ...], **opts: Any) -> None:
        from . import api

        opts = _settings(ctx, opts)
        changed = api.accept(_database(opts), track=track, names=names, **_api_kwargs(opts))
        click.echo(f"Accepted {len(changed)} file(s): {', '.join(changed)}" if changed else "Nothing to accept.")

    @group.command(help=f"Record {track} files up to VERSION as applied without running them (a lost history).")
    @common_options
    @click.option("--to", "to", required=True, metavar="VERSION", help="The newest version already in the database.")
    @click.pass_context
    @handle_errors
    def baseline(ctx: click.Context, /, to: str, **opts: Any) -> None:
        from . import api

        opts = _settings(ctx, opts)
        names = api.baseline(_database(opts), track=track, to=to, **_api_kwargs(opts))
        shown = f": {', '.join(names)}" if names else ""
        click.echo(f"Recorded {len(names)} {track} migration(s) as applied without running them{shown}")

    return group


@main.command(help="Show the state of every migration and seed.")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--exit-code", is_flag=True, help=f"Exit with {EXIT_PENDING} when something is pending.")
@click.pass_context
@handle_errors
def status(
    ctx: click.Context, /, as_json: bool, exit_code: bool, tracks: tuple[Track, ...] = ("migrate", "seed"), **opts: Any
) -> None:
    from . import api

    opts = _settings(ctx, opts)
    report = api.status(_database(opts, quiet=as_json), tracks=tracks, **_api_kwargs(opts))
    _print_status(report, as_json)
    if exit_code and report.pending:
        sys.exit(EXIT_PENDING)


@main.command(help="Write a new pair of .up.sql/.down.sql files with a UTC timestamp.")
@click.option("--type", "track", type=click.Choice(["migrate", "seed"]), default="migrate", show_default=True)
@click.option("--name", required=True, help="What the migration does, e.g. add_users_table.")
@click.option("--schema", help="Schema the stub's SQL uses.")
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@handle_errors
def new(track: Track, name: str, schema: str | None, dir: Path | None) -> None:
    from .scaffold import new_migration

    settings = config.load(directory=dir)
    up, down = new_migration(settings.directory, track, name, schema=schema, stubs=settings.stubs)
    for path in (up, down):
        click.echo(f"Created {os.path.relpath(path)}")


@main.group(help="The embedded development PostgreSQL (data in .sqlmig/).")
def dev() -> None:
    pass


@dev.command(name="start", help="Start the embedded server (or reuse it) and print its URL.")
@handle_errors
def dev_start() -> None:
    from . import devdb

    server, started = devdb.start()
    click.echo(f"{'Started' if started else 'Already running'}: PostgreSQL {server.version}, pid {server.pid}")
    click.echo(server.url)


@dev.command(name="stop", help="Stop the embedded server.")
@handle_errors
def dev_stop() -> None:
    from . import devdb

    click.echo("Stopped." if devdb.stop() else "Not running.")


@dev.command(name="status", help="Say whether the embedded server runs.")
@handle_errors
def dev_status() -> None:
    from . import devdb

    server = devdb.status()
    click.echo(f"Running: PostgreSQL {server.version}, pid {server.pid}, {server.url}" if server else "Not running.")


@dev.command(name="url", help="Print the embedded server's URL (for DATABASE_URL=$(sqlmig dev url)).")
@handle_errors
def dev_url() -> None:
    from . import devdb

    click.echo(devdb.url())


main.add_command(_track_group("migrate"))
main.add_command(_track_group("seed"))
