"""The ``reconciler`` command: parse arguments, call the core, render.  Nothing else.

Exit codes follow Terraform's ``-detailed-exitcode`` (0 no changes, 1 error, 2 changes),
extended with distinct codes for what CI must tell apart: see ``cli.common.EXIT_CODES``.
Usage errors exit 1 too, so that 2 always means "there are changes".
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import click

from reconciler import __version__
from reconciler.cli import catalogue, common
from reconciler.cli.common import EXIT_ERROR

# Which module registers each command.  A command's module is imported only when that command
# runs (or --help lists them all): `validate` runs on every commit and should not pay for the
# web page's and the access codes' imports.  A test keeps this table equal to what the
# modules register.
COMMANDS = {
    "validate": "validating",
    **dict.fromkeys(("plan", "apply", "show"), "planning"),
    **dict.fromkeys(("actor", "audit", "codeowners", "drift", "export", "lock", "state"), "registry"),
    **dict.fromkeys(("activate", "credentials", "serve"), "accounts"),
    "schema": "catalogue",
    **dict.fromkeys(("review", "who"), "governance"),
}


class LazyGroup(click.Group):
    """A group whose commands are registered by their module when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"reconciler.cli.{COMMANDS[cmd_name]}").register(self)
            gc.freeze()  # modules, classes and functions live as long as the process: no collection walks them
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Access management as data for enterprise accounts on the social-security portal.

    Declare an enterprise's main access manager, qualities, access managers, users and
    parameters in YAML; validate them, see the plan, and apply exactly that plan.
    """
    catalogue.activate_catalogue(None)  # the repository's reconciler.yaml, if any; --catalogue replaces it


# Objects the cyclic collector counts before it looks for cycles among the newest (Python's default
# is 700).  A plan builds hundreds of thousands of objects that live until it ends (the listing, the
# remembered hashes, the kept facts) and makes few cycles: with the default, the collector walks
# those objects again and again, for a tenth of a pull request's plan.
YOUNG_OBJECTS = 50_000


def main() -> None:
    """Entry point; turns click's usage errors into exit code 1 so that 2 keeps one meaning."""
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
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
