"""The ``reconciler`` command: parse arguments, call the core, render.  Nothing else.

Exit codes follow Terraform's ``-detailed-exitcode``: 0 success (no changes), 1 error,
2 success with changes (only when asked).  Usage errors exit 1 too, so that 2 always
means "there are changes".
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from reconciler import __version__, identifiers
from reconciler.apply import apply_plan
from reconciler.copy import copy_registry
from reconciler.desired import Desired, load_desired
from reconciler.diagnostics import Diagnostic
from reconciler.export import export as export_state
from reconciler.plan import Plan, make_plan
from reconciler.render.json import render_plan_json
from reconciler.render.show import render_enterprise, render_overview
from reconciler.render.text import render_plan
from reconciler.store import DEFAULT_LOCK_TIMEOUT, DEFAULT_URL, Store, StoreError, open_store

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

state_option = click.option(
    "--state", "state_url", envvar="RECONCILER_STATE", default=DEFAULT_URL, show_default=True,
    help="Where the stored state lives: sqlite:///relative/path, sqlite:////absolute/path or "
    "postgresql://user@host:port/database[?schema=NAME]. Also read from RECONCILER_STATE.",
)
lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT, show_default=True,
    help="Seconds to wait for another apply to the same enterprise before giving up.",
)
paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))


def is_terminal() -> bool:
    """Whether a person can answer a prompt (a separate function so tests can say yes)."""
    return sys.stdin.isatty()


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_ERROR)


def report(problems: list[Diagnostic]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found.", err=True)


def desired_or_exit(paths: tuple[Path, ...]) -> Desired:
    desired, problems = load_desired(paths)
    if problems:
        report(problems)
        raise SystemExit(EXIT_ERROR)
    return desired


def open_or_exit(url: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Store:
    try:
        return open_store(url, lock_timeout)
    except StoreError as error:
        fail(str(error))
        raise  # unreachable: fail() exits


def compute_plan(paths: tuple[Path, ...], store: Store) -> Plan:
    desired = desired_or_exit(paths)
    return make_plan(desired.enterprises, store.read(desired.enterprises))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Access management as data for enterprise accounts on the social-security portal.

    Declare an enterprise's main access manager, qualities, access managers, users and
    parameters in YAML; validate them, see the plan, and apply exactly that plan.
    """


@cli.command()
@paths_argument
def validate(paths: tuple[Path, ...]) -> None:
    """Check YAML files (or folders of them) against the schema and the hierarchy rules."""
    desired = desired_or_exit(paths)
    count = len(desired.enterprises)
    click.echo(f"{desired.files} file{'s' if desired.files != 1 else ''} valid: "
               f"{count} enterprise{'s' if count != 1 else ''}.")


@cli.command()
@paths_argument
@state_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs (see schemas/plan.schema.json).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
def plan(paths: tuple[Path, ...], state_url: str, output_format: str, detailed_exitcode: bool) -> None:
    """Show what apply would change to make the stored state match the declaration."""
    store = open_or_exit(state_url)
    try:
        result = compute_plan(paths, store)
    finally:
        store.close()
    click.echo(render_plan_json(result) if output_format == "json" else render_plan(result), nl=False)
    if detailed_exitcode and not result.is_empty:
        raise SystemExit(EXIT_CHANGES)


@cli.command()
@paths_argument
@state_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking; for CI.")
@lock_timeout_option
def apply(paths: tuple[Path, ...], state_url: str, auto_approve: bool, lock_timeout: float) -> None:
    """Plan, show the plan, and apply it in one transaction after confirmation."""
    store = open_or_exit(state_url, lock_timeout)
    try:
        result = compute_plan(paths, store)
        click.echo(render_plan(result), nl=False)
        if result.is_empty:
            return
        if not auto_approve:
            if not is_terminal():
                fail("not on a terminal, so nobody can confirm; pass --auto-approve to apply from a script")
            answer = click.prompt("\nApply these changes? Only 'yes' will be accepted", default="",
                                  show_default=False)
            if answer != "yes":
                fail("apply cancelled; nothing was changed")
        try:
            apply_plan(result, store)
        except StoreError as error:
            fail(str(error))
        counts = result.counts()
        click.echo(f"\nApply complete: {sum(counts.values())} changes in "
                   f"{len(result.enterprises())} enterprise{'s' if len(result.enterprises()) != 1 else ''}.")
    finally:
        store.close()


@cli.command()
@state_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write one YAML file per enterprise into.")
def export(state_url: str, out: Path) -> None:
    """Write the stored state as YAML files that validate and plan to no changes."""
    store = open_or_exit(state_url)
    try:
        written = export_state(store.read(), out)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror}")
    finally:
        store.close()
    click.echo(f"Exported {len(written)} enterprise{'s' if len(written) != 1 else ''} to {out}.")


@cli.command()
@click.argument("enterprise", required=False)
@state_option
def show(enterprise: str | None, state_url: str) -> None:
    """Print the stored state: every enterprise, or one in detail (any spelling of its number)."""
    store = open_or_exit(state_url)
    try:
        if enterprise is None:
            click.echo(render_overview(store.read()), nl=False)
            return
        try:
            number = identifiers.enterprise_number(enterprise)
        except identifiers.InvalidIdentifier as error:
            fail(str(error))
        stored = store.read([number]).get(number)
        if stored is None:
            fail(f"enterprise {number} is not in the store")
        click.echo(render_enterprise(stored, store.accounts(number), datetime.now(timezone.utc)), nl=False)
    finally:
        store.close()


@cli.group()
def state() -> None:
    """Manage stores as a whole."""


@state.command("migrate")
@click.option("--from", "source_url", required=True, help="Store to copy from (any state URL).")
@click.option("--to", "target_url", required=True, help="Empty store to copy into (any state URL).")
def state_migrate(source_url: str, target_url: str) -> None:
    """Copy a whole registry to another store, accounts and versions included, and verify it."""
    source = open_or_exit(source_url)
    try:
        target = open_or_exit(target_url)
        try:
            count = copy_registry(source, target)
        except StoreError as error:
            fail(str(error))
        finally:
            target.close()
    finally:
        source.close()
    click.echo(f"Copied {count} enterprise{'s' if count != 1 else ''} from {source_url} to {target_url}; "
               "both stores compared equal.")


@cli.group()
def lock() -> None:
    """See and release the per-enterprise apply locks."""


@lock.command("list")
@state_option
def lock_list(state_url: str) -> None:
    """Show who holds, or last held and left behind, each enterprise's lock."""
    store = open_or_exit(state_url)
    try:
        holders = store.lock_holders()
    finally:
        store.close()
    if not holders:
        click.echo("No locks are held.")
    for holder in holders:
        status = "held" if holder.held else "stale (holder gone; the next apply takes it over)"
        click.echo(f"{identifiers.format_enterprise_number(holder.enterprise)}  {holder.holder}  "
                   f"run {holder.run}  since {holder.since}  {status}")


@lock.command("release")
@click.argument("enterprise")
@state_option
@click.option("--force", is_flag=True, help="Also end the session or process that still holds the lock.")
def lock_release(enterprise: str, state_url: str, force: bool) -> None:
    """Release an enterprise's lock left behind by an apply that is gone."""
    try:
        number = identifiers.enterprise_number(enterprise)
    except identifiers.InvalidIdentifier as error:
        fail(str(error))
    store = open_or_exit(state_url)
    try:
        released = store.release_lock(number, force=force)
    except StoreError as error:
        fail(str(error))
    finally:
        store.close()
    click.echo(f"Released the lock of {number} (held by {released.holder})." if released
               else f"No lock of {number} is recorded.")


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
