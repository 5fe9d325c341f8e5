"""The CLI's checking commands, ``lint``, ``verify`` and ``render``, and ``dev`` (the embedded server). Each parses
options, calls one API function and prints its result (text, or one JSON document with ``--json``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from . import reports
from .exits import EXIT_INVALID, EXIT_OK
from .options import Command, Group, cli_wording, emit, finish, handle_errors, migrator, overrides


def _templating_options(f: Any) -> Any:
    f = click.option("--var", multiple=True, metavar="NAME=VALUE", help="Template variable (repeatable).")(f)
    f = click.option("--schema", help="Value of {{ schema }} in templates.")(f)
    return f


@click.command(
    cls=Command, help="Check migration files against the lint rules. PATHS are files or folders [the --dir folder]."
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_templating_options
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@click.option(
    "--rules",
    metavar="SET,...",
    help="Rule sets and rules to report: safety, conventions, or codes such as SQM101 [lint_rules in config, or "
    "safety]. The file rules are always on.",
)
@click.option(
    "--since",
    metavar="REF",
    help="Check only the migrations changed since this git ref (a branch, tag or commit), committed or not.",
)
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not read or write .sqlmig/lint-cache.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@handle_errors
def lint(
    ctx: click.Context,
    /,
    paths: tuple[Path, ...],
    rules: str | None,
    since: str | None,
    no_cache: bool,
    as_json: bool,
    **opts: Any,
) -> None:
    from ..lint import driver as linting

    given = overrides(ctx.find_root().params, opts)
    chosen = None if rules is None else tuple(r.strip() for r in rules.split(",") if r.strip())
    report = linting.lint(
        given.directory,
        paths,
        schema=given.schema,
        vars=given.vars,
        rules=chosen,
        since=since,
        cache=not no_cache,
    )
    findings = tuple(dataclasses.replace(f, message=cli_wording(f.message)) for f in report.findings)
    report = dataclasses.replace(report, findings=findings)
    code = EXIT_INVALID if report.findings else EXIT_OK
    finish(reports.lint_dict(report), reports.lint_text(report), code, as_json)


@click.command(
    cls=Command,
    help="Check that every down undoes its up exactly, on a scratch database. With --idempotent, also that every up "
    "can run twice.",
)
@click.option("--database-url", metavar="URL", help="A server where sqlmig may create and drop a scratch database.")
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@_templating_options
@click.option("--history-table", help="History table, schema.table [public.migration_history].")
@click.option("--seeds", is_flag=True, help="Apply and check the seeds too.")
@click.option(
    "--idempotent/--not-idempotent",
    default=None,
    help="Also check that running each up twice changes nothing [idempotent in config].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@handle_errors
def verify(ctx: click.Context, /, seeds: bool, as_json: bool, **opts: Any) -> None:
    report = migrator(overrides(ctx.find_root().params, opts), quiet=as_json).verify(seeds=seeds)
    code = EXIT_OK if report.ok else EXIT_INVALID
    finish(reports.verify_dict(report), reports.verify_text(report), code, as_json)


@click.command(
    cls=Command,
    help="Print a SQL file with its template rendered. A migration file is rendered as it would run; any other .sql "
    "file (a query, a report) with the same context: --schema, --var and [tool.sqlmig].",
)
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_templating_options
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "sql"} as JSON.')
@click.pass_context
@handle_errors
def render(ctx: click.Context, /, file: Path, as_json: bool, **opts: Any) -> None:
    from ..preview import render_file
    from .output import path_text

    given = overrides(ctx.find_root().params, opts)
    sql = render_file(file, schema=given.schema, vars=given.vars)
    if as_json:
        emit({"path": path_text(file), "sql": sql})
    else:
        click.echo(sql, nl=not sql.endswith("\n"))


@click.group(cls=Group, help="The embedded development PostgreSQL (data in .sqlmig/).")
def dev() -> None:
    pass


@dev.command(name="start", help="Start the embedded server (or reuse it) and print its URL.")
@handle_errors
def dev_start() -> None:
    from .. import devdb

    server, started = devdb.start()
    click.echo(f"{'Started' if started else 'Already running'}: PostgreSQL {server.version}, pid {server.pid}")
    click.echo(server.url)
    if server.note:
        click.echo(f"note: {server.note}", err=True)


@dev.command(name="stop", help="Stop the embedded server.")
@handle_errors
def dev_stop() -> None:
    from .. import devdb

    click.echo("Stopped." if devdb.stop() else "Not running.")


@dev.command(name="status", help="Say whether the embedded server runs.")
@handle_errors
def dev_status() -> None:
    from .. import devdb

    server = devdb.status()
    click.echo(f"Running: PostgreSQL {server.version}, pid {server.pid}, {server.url}" if server else "Not running.")
    if server and server.note:
        click.echo(f"note: {server.note}", err=True)


@dev.command(name="url", help="Print the embedded server's URL. Use it as DATABASE_URL=$(sqlmig dev url).")
@handle_errors
def dev_url() -> None:
    from .. import devdb

    click.echo(devdb.url())
