"""The CLI's checking commands: ``lint``, ``verify`` and ``render``. Each parses options, calls one API function
and prints its result (text, or one JSON document with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import config
from .cliopts import EXIT_INVALID, database, emit, finish, handle_errors, settings


def _templating_options(f: Any) -> Any:
    f = click.option("--var", multiple=True, metavar="NAME=VALUE", help="Template variable (repeatable).")(f)
    f = click.option("--schema", help="Value of {{ schema }} in templates.")(f)
    return f


@click.command(help="Check migration files against the lint rules (PATHS: files or folders; default: --dir).")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_templating_options
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@handle_errors
def lint(ctx: click.Context, /, paths: tuple[Path, ...], as_json: bool, **opts: Any) -> None:
    from . import lint as linting

    opts = settings(ctx, opts)
    report = linting.lint(opts["dir"], paths, schema=opts["schema"], vars=config.parse_vars(opts["var"]) or None)
    code = EXIT_INVALID if report.findings else 0
    finish(linting.report_dict(report), linting.report_text(report), code, as_json)


@click.command(
    help="On a scratch database, check that every down undoes its up exactly (and optionally that every up can "
    "run twice)."
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
def verify(ctx: click.Context, /, seeds: bool, idempotent: bool | None, as_json: bool, **opts: Any) -> None:
    from . import verify as verifying

    opts = settings(ctx, opts)
    report = verifying.verify(
        database(opts, quiet=as_json),
        opts["dir"],
        schema=opts["schema"],
        vars=config.parse_vars(opts["var"]) or None,
        seeds=seeds,
        idempotent=idempotent,
        history_table=opts["history_table"],
    )
    code = 0 if report.ok else EXIT_INVALID
    finish(verifying.report_dict(report), verifying.report_text(report), code, as_json)


@click.command(help="Print a migration file as sqlmig would run it, its template rendered.")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_templating_options
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "sql"} as JSON.')
@click.pass_context
@handle_errors
def render(ctx: click.Context, /, file: Path, as_json: bool, **opts: Any) -> None:
    from .output import path_text
    from .preview import render_file

    opts = settings(ctx, opts)
    sql = render_file(file, schema=opts["schema"], vars=config.parse_vars(opts["var"]) or None)
    if as_json:
        emit({"path": path_text(file), "sql": sql})
    else:
        click.echo(sql, nl=not sql.endswith("\n"))
