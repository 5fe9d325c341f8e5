"""Multi-tenant templates for :mod:`sqlmig.testing`: which tenant schemas a template holds, and building it by a
fan-out (:func:`~sqlmig.fanout.runner.up_all`), each schema rendering the templates with its own ``schema``.

The schemas of a template are, first to last: the marker's ``schemas=`` (an empty list: none), none when the
marker gives ``schema=``, the ini's ``sqlmig_schemas``, and the ``schemas`` list of ``[tool.sqlmig.targets]``
when no ``schema`` is configured, which is when ``sqlmig up`` fans out over them too. A ``schemas_from`` query
is never run: a test database starts with no tenants for it to find, so the schemas must be named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import config
from ..errors import ConfigError
from ..errors import TenantsFailed as TenantsFailed  # its home before it joined the one error tree
from ..model import Track
from ..targets import Target, check_names, parse_schemas

# Schemas migrated at a time, one connection each: apply_all's default, and few enough for a developer's server.
FANOUT_JOBS = 4


def schema_names(value: object, source: str) -> tuple[str, ...]:
    """``value`` (a list of schema names, or names separated by commas) as a tuple of names in order; ``()`` for
    an empty list. ``source`` names where it came from in messages. Raises :class:`ConfigError` for anything else,
    or a name that is empty, repeated, holds NUL or is longer than PostgreSQL's 63 bytes."""
    if isinstance(value, str):
        return parse_schemas(value, source=source)
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) for name in value):
        raise ConfigError(f'{source} expects a list of schema names, e.g. ["tenant_a", "tenant_b"]; got {value!r}')
    # Each listed name is one schema, checked as apply_all and --schemas check theirs.
    return check_names(list(value), source) if value else ()


def chosen_schemas(*, marked: object, schema: str | None, session: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The schemas a template fans out over, from the marker's ``schemas=`` (``marked``, None when not given) and
    ``schema=``, and the session's ``sqlmig_schemas``; None leaves the choice to ``[tool.sqlmig.targets]`` (see
    :func:`configured_schemas`). Raises :class:`ConfigError` for a marker with both ``schema=`` and a list of
    ``schemas=``, or a bad list."""
    if marked is not None:
        names = schema_names(marked, "@pytest.mark.sqlmig(schemas=…)")
        if names and schema is not None:
            raise ConfigError(
                "@pytest.mark.sqlmig takes schema= (one schema) or schemas= (a template with several), not both"
            )
        return names
    if schema is not None:
        return ()  # the marker asks for one schema: that wins over the session's several
    return session


def configured_schemas(settings: config.Settings) -> tuple[str, ...]:
    """The schemas of ``[tool.sqlmig.targets]`` when ``sqlmig up`` would fan out over them (no ``schema`` given
    anywhere); ``()`` for none. Raises :class:`ConfigError` for a ``schemas_from`` query then: it would find no
    tenant in a new database, and a template of one schema would not be what ``sqlmig up`` makes."""
    if settings.targets is None or settings.schema is not None:
        return ()
    if settings.targets.schemas_from is not None:
        raise ConfigError(
            "[tool.sqlmig.targets] has schemas_from, a query that finds no tenant in a new test database: name the "
            "template's schemas with sqlmig_schemas in the ini file or @pytest.mark.sqlmig(schemas=[…]), or set "
            "sqlmig_schema for a template of one schema"
        )
    return settings.targets.schemas


def fan_out(settings: config.Settings, url: str, schemas: Sequence[str], tracks: Sequence[Track]) -> None:
    """Apply ``tracks`` in order to every schema of ``schemas`` in the database at ``url``, :data:`FANOUT_JOBS`
    schemas at a time: each track in every schema before the next track. Writes. Raises
    :class:`~sqlmig.errors.TenantsFailed` when a schema failed (after the others of that track have run), and what
    stops every schema (:class:`~sqlmig.ConnectError`, :class:`~sqlmig.DiscoveryError`)."""
    from ..fanout.runner import up_all  # the fan-out's thread pool is only loaded for a template that needs it

    targets = tuple(Target(name) for name in schemas)
    own = replace(settings, database_url=url)
    for track in tracks:
        report = up_all(own, targets, track=track, jobs=min(FANOUT_JOBS, len(targets)))
        if not report.ok:
            # skipped: never with no canary and no max_failures, but a schema not run must not pass unnoticed
            failed = [r for r in report.results if r.status in ("failed", "skipped")]
            raise TenantsFailed(track, schemas, failed, redact=config.redact)
