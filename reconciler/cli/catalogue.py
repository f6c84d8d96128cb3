"""The catalogue in effect, chosen once per command, and ``reconciler schema``.

Every command reads the repository's ``reconciler.yaml`` (found by walking up from the
working directory to the repository root) before it does anything else, so that
validation, planning, the docs tables and the overview all use the same catalogue;
``--catalogue FILE`` names another file instead.  A broken catalogue file stops the
command with its problems, ``file:line:column`` and a rule id, like any declared file.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import EXIT_ERROR, report
from reconciler.declare.catalogue_file import use_catalogue
from reconciler.declare.diagnostics import ReconcilerError
from reconciler.declare.schemas import SCHEMAS, schema_document


def activate_catalogue(path: Path | None) -> None:
    """Make the shipped catalogue plus ``path`` (or the ``reconciler.yaml`` found) the one in effect."""
    try:
        use_catalogue(path)
    except ReconcilerError as error:
        report(list(error.diagnostics))
        raise SystemExit(EXIT_ERROR) from None


def _catalogue(context: click.Context, parameter: click.Parameter, value: Path | None) -> None:
    if value is not None:
        activate_catalogue(value)


catalogue_option = click.option(
    "--catalogue",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_catalogue,
    expose_value=False,
    is_eager=True,
    help="A catalogue file adding or replacing qualities and services (format: `reconciler schema catalogue`). "
    "Default: reconciler.yaml in the working directory or a folder above it, up to the repository root.",
)


def register(cli: click.Group) -> None:
    @cli.command("schema")
    @click.argument("name", type=click.Choice(SCHEMAS), default="enterprise")
    @catalogue_option
    def schema(name: str) -> None:
        """Print a JSON Schema: enterprise files (of the catalogue in effect), plans, catalogue files or problems."""
        click.echo(schema_document(name), nl=False)
