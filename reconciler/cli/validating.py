"""validate: check declared files without a store, as a pre-commit hook and CI do on every change.

A module of its own so that the command imports only what checking needs: it runs on every
commit, and a warm run over a large registry costs little more than starting Python.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.catalogue import catalogue_option
from reconciler.cli.common import EXIT_ERROR, cache_options, paths_argument, plural, report, say, warn
from reconciler.plan.validation import validate_paths
from reconciler.render.problems import FORMATS as PROBLEM_FORMATS
from reconciler.render.problems import render_problems


def register(cli: click.Group) -> None:
    @cli.command()
    @catalogue_option
    @paths_argument
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(PROBLEM_FORMATS),
        default="text",
        show_default=True,
        help="How problems are printed: text on stderr, or on stdout json (schemas/problems.schema.json), "
        "github (workflow commands, annotations) or sarif (SARIF 2.1.0, for code scanning).",
    )
    @cache_options
    def validate(paths: tuple[Path, ...], output_format: str, cache_dir: Path, no_cache: bool) -> None:
        """Check YAML files (or folders of them) against the schema and the hierarchy rules."""
        result = validate_paths(paths, None if no_cache else cache_dir)
        if result.problems:
            report(result.problems, output_format)
            raise SystemExit(EXIT_ERROR)
        warn(result.warnings)
        files, enterprises = result.files, result.enterprises
        if output_format in ("json", "sarif"):
            say(render_problems([], output_format, files, enterprises), nl=False)
        else:
            say(f"{plural(files, 'file')} valid: {plural(enterprises, 'enterprise')}.")
