"""The ``sqlmig`` command: each command parses options into typed settings (:class:`~sqlmig.config.Overrides`),
calls one method of a :class:`~sqlmig.migrator.Migrator` built from them, and prints its result.

Exit codes: 0 success (nothing to do included), 1 a migration's SQL failed, 2 usage error, 3 ``status
--exit-code`` found pending migrations, 4 invalid files, templates or plan (drift, missing file, out of order,
lint findings, a down that ``verify`` found wrong), 5 configuration or connection error, or sqlmig's own work
failed during a run (history write, lost connection), 6 the migration lock was not free in time. The checking
commands (``lint``, ``verify``, ``render``) and ``dev`` live in :mod:`sqlmig.cli.tools`; the codes in
:mod:`sqlmig.cli.exits`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import config
from ..model import Track

if TYPE_CHECKING:
    from ..migrator import Migrator
from ..plan import DownTarget
from ..version import __version__
from . import fanout, manage, output
from .exits import EXIT_CODES, EXIT_OK, EXIT_PENDING
from .explain import explain
from .fanout import fanout_options
from .options import (
    Group,
    common_options,
    finish,
    handle_errors,
    limit_options,
    log_steps,
    migrator,
    overrides,
    print_preview,
    print_report,
)
from .tools import dev, lint, render, verify


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="sqlmig")
@common_options
def main(**_: Any) -> None:
    """Raw-SQL PostgreSQL migrations: timestamped up/down files in migrations/migrate and migrations/seed."""


DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Print what would run, in order, rendered; take no lock and change nothing."
)


def _track_group(track: Track) -> click.Group:
    about = "schema migrations (DDL)." if track == "migrate" else "seeds (DML). Seeds run after the migrations."

    @click.group(cls=Group, name=track, help=f"Apply, roll back and inspect {about}")
    def group() -> None:
        pass

    for add in (_add_up, _add_down, _add_status, _add_accept, _add_baseline):
        add(group, track)
    return group


def _add_up(group: click.Group, track: Track) -> None:
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
    @click.option("--to", "to", metavar="VERSION", help="Apply only the pending files up to VERSION.")
    @click.option("--lint/--no-lint", "lint", default=None, help="Refuse files with lint errors [lint in config].")
    @fanout_options
    @DRY_RUN
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_context
    @handle_errors
    def up(
        ctx: click.Context, /, dry_run: bool, as_json: bool, single_transaction: bool, to: str | None, **opts: Any
    ) -> None:
        fan = {name: opts.pop(name) for name in fanout.FANOUT_OPTIONS}
        run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
        if fanout.wanted(run, fan):
            fanout.up(
                run,
                track,
                fan,
                to=to,
                as_json=as_json,
                refused={"--dry-run": dry_run, "--single-transaction": single_transaction},
            )
            return
        if dry_run:
            print_preview(run.dry_run(track, "up", to=to), track, "up", as_json)
            return
        log_steps(to_stderr=as_json)
        print_report(run.up(track, single_transaction=single_transaction, to=to), as_json)


def _add_down(group: click.Group, track: Track) -> None:
    @group.command(help=f"Roll back applied {track} files, newest first: one by default.")
    @common_options
    @limit_options
    @click.option("--steps", type=click.IntRange(min=1), help="Roll back this many.")
    @click.option("--to", "to", metavar="VERSION", help="Roll back everything newer than VERSION.")
    @click.option("--all", "all_", is_flag=True, help="Roll back everything.")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation of --all on a terminal.")
    @click.option("--lock-wait", type=float, metavar="SECONDS", help="How long to wait for the migration lock [300].")
    @manage.down_options
    @DRY_RUN
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_context
    @handle_errors
    def down(
        ctx: click.Context,
        /,
        dry_run: bool,
        as_json: bool,
        steps: int | None,
        to: str | None,
        all_: bool,
        yes: bool,
        **opts: Any,
    ) -> None:
        if sum(x is not None and x is not False for x in (steps, to, all_ or None)) > 1:
            raise click.UsageError("use only one of --steps, --to and --all")
        fan = manage.pop(opts)
        run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
        if manage.wanted(run, fan, track, "down"):
            if dry_run:
                raise click.UsageError("--dry-run is not available with a fan-out (--schemas, --schemas-from, …)")
            manage.down(run, track, fan, steps=steps or 1, to=to, all_=all_, yes=yes, as_json=as_json)
            return
        if dry_run:
            target = DownTarget(steps=steps or 1, to=to, all=all_)
            print_preview(run.dry_run(track, "down", target=target), track, "down", as_json)
            return
        if all_ and not yes and sys.stdin.isatty():
            click.confirm(f"Roll back ALL applied {track} files?", abort=True)
        log_steps(to_stderr=as_json)
        print_report(run.down(track, steps=steps or 1, to=to, all=all_), as_json)


def _add_status(group: click.Group, track: Track) -> None:
    @group.command(name="status", help=f"Show the state of every {track} file.")
    @common_options
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--exit-code", is_flag=True, help=f"Exit with {EXIT_PENDING} when something is pending.")
    @fanout.target_options
    @click.pass_context
    @handle_errors
    def track_status(ctx: click.Context, /, as_json: bool, exit_code: bool, **opts: Any) -> None:
        fan = {name: opts.pop(name) for name in fanout.TARGET_OPTIONS}
        run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
        if fanout.wanted(run, fan):
            fanout.status(run, (track,), fan, as_json=as_json, exit_code=exit_code)
            return
        _show_status(run, (track,), as_json, exit_code)


def _add_accept(group: click.Group, track: Track) -> None:
    @group.command(help="Accept edits of applied files. Stores the current checksums of the drifted ones, or of NAMES.")
    @common_options
    @click.argument("names", nargs=-1)
    @fanout.target_options
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.pass_context
    @handle_errors
    def accept(ctx: click.Context, /, names: tuple[str, ...], as_json: bool, **opts: Any) -> None:
        fan = manage.pop(opts)
        run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
        if manage.wanted(run, fan, track, "accept"):
            manage.accept(run, track, fan, names, as_json=as_json)
            return
        changed = run.accept(track, names)
        text = f"Accepted {len(changed)} file(s): {', '.join(changed)}" if changed else "Nothing to accept."
        finish({"track": track, "accepted": changed}, text, EXIT_OK, as_json)


def _add_baseline(group: click.Group, track: Track) -> None:
    @group.command(
        help="Record files up to VERSION as applied, without running them. For a database that has their objects "
        "but lost its history (or was built before sqlmig)."
    )
    @common_options
    @click.option("--to", "to", required=True, metavar="VERSION", help="The newest version already in the database.")
    @fanout.target_options
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.pass_context
    @handle_errors
    def baseline(ctx: click.Context, /, to: str, as_json: bool, **opts: Any) -> None:
        fan = manage.pop(opts)
        run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
        if manage.wanted(run, fan, track, "baseline"):
            manage.baseline(run, track, fan, to, as_json=as_json)
            return
        names = run.baseline(track, to=to)
        shown = f": {', '.join(names)}" if names else ""
        text = f"Recorded {len(names)} {track} migration(s) as applied without running them{shown}"
        finish({"track": track, "recorded": names}, text, EXIT_OK, as_json)


@main.command(help="Show the state of every migration and seed.")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--exit-code", is_flag=True, help=f"Exit with {EXIT_PENDING} when something is pending.")
@click.pass_context
@handle_errors
def status(ctx: click.Context, /, as_json: bool, exit_code: bool, **opts: Any) -> None:
    run = migrator(overrides(ctx.find_root().params, opts), quiet=as_json)
    if fanout.wanted(run, {}):  # [tool.sqlmig.targets]: the targets' histories, not the ordinary one
        fanout.status(
            run,
            ("migrate", "seed"),
            {name: None for name in fanout.TARGET_OPTIONS},
            as_json=as_json,
            exit_code=exit_code,
        )
        return
    _show_status(run, ("migrate", "seed"), as_json, exit_code)


def _show_status(run: Migrator, tracks: tuple[Track, ...], as_json: bool, exit_code: bool) -> None:
    report = run.status(tracks)
    code = EXIT_PENDING if exit_code and report.pending else EXIT_OK
    finish(output.status_dict(report), output.status_text(report), code, as_json)


@main.command(help="Write a new pair of .up.sql/.down.sql files with a UTC timestamp.")
@click.option("--type", "track", type=click.Choice(["migrate", "seed"]), default="migrate", show_default=True)
@click.option("--name", required=True, help="What the migration does, e.g. add_users_table.")
@click.option("--schema", help="Schema the stub's SQL uses.")
@click.option("--dir", type=click.Path(path_type=Path), help="Folder holding migrate/ and seed/ [migrations].")
@handle_errors
def new(track: Track, name: str, schema: str | None, dir: Path | None) -> None:
    from ..scaffold import new_migration

    loaded = config.resolve(config.Overrides(directory=dir))
    up, down = new_migration(loaded.directory, track, name, schema=schema, stubs=loaded.stubs)
    for path in (up, down):
        click.echo(f"Created {os.path.relpath(path)}")


@main.command(
    help="Start a project in this folder, with both lint rule sets on. Creates the migrations folder (migrate/ and "
    'seed/) and a [tool.sqlmig] table in pyproject.toml with lint_rules = ["safety", "conventions"]. Never '
    "overwrites: an existing [tool.sqlmig] is left as it is."
)
@click.option("--dir", "directory", default="migrations", show_default=True, help="Folder to hold migrate/ and seed/.")
@handle_errors
def init(directory: str) -> None:
    from ..scaffold import init_project

    for line in init_project(Path.cwd(), directory):
        click.echo(line)


main.add_command(_track_group("migrate"))
main.add_command(_track_group("seed"))
for command in (lint, verify, render, dev):
    main.add_command(command)
main.add_command(explain)
