"""The ``reconciler`` command: parse arguments, call the core, render.  Nothing else.

Exit codes follow Terraform's ``-detailed-exitcode`` (0 no changes, 1 error, 2 changes),
extended with distinct codes for what CI must tell apart: see ``cli.common.EXIT_CODES``.
Usage errors exit 1 too, so that 2 always means "there are changes".
"""

from __future__ import annotations

import os
import sys

import click

from reconciler import __version__
from reconciler.cli import accounts, catalogue, common, governance, planning, registry
from reconciler.cli.common import EXIT_ERROR


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Access management as data for enterprise accounts on the social-security portal.

    Declare an enterprise's main access manager, qualities, access managers, users and
    parameters in YAML; validate them, see the plan, and apply exactly that plan.
    """
    catalogue.activate_catalogue(None)  # the repository's reconciler.yaml, if any; --catalogue replaces it


planning.register(cli)
registry.register(cli)
accounts.register(cli)
catalogue.register(cli)
governance.register(cli)


def main() -> None:
    """Entry point; turns click's usage errors into exit code 1 so that 2 keeps one meaning."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(EXIT_ERROR) from None
    except click.ClickException as error:
        error.show()
        raise SystemExit(EXIT_ERROR) from None
    except BrokenPipeError:
        # A reader of a report (`audit log | head`) went away; nothing is left to do but stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(EXIT_ERROR) from None


__all__ = ["cli", "common", "main"]
