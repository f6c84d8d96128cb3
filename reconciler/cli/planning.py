"""validate, plan, apply and show: from declared files to the stored state."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.accounts.lifecycle import with_waiting_accounts
from reconciler.apply.execute import Refused, apply_plan
from reconciler.cli.accounts import send_codes
from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_LOCK,
    EXIT_PLAN_FILE,
    EXIT_REFUSED,
    EXIT_STALE,
    actor_option,
    delivery_options,
    desired_or_exit,
    fail,
    is_terminal,
    lock_timeout_option,
    open_or_exit,
    paths_argument,
    plural,
    report,
    state_option,
    use_color,
)
from reconciler.declare import identifiers
from reconciler.plan.gates import DEFAULT_MAX_REMOVAL_SHARE, GATES, Policy, unlifted
from reconciler.plan.pipeline import plan_paths
from reconciler.plan.plan import Plan
from reconciler.plan.saved import (
    PlanFileError,
    is_plan_file,
    read_plan_file,
    write_plan_file,
)
from reconciler.render.export import enterprise_document
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import DEFAULT_LIMIT, render_plan_markdown
from reconciler.render.show import render_enterprise, render_overview
from reconciler.render.text import plan_chunks
from reconciler.store.port import LockTimeout, StalePlan, Store, StoreError

FORMATS = click.Choice(["text", "json", "markdown"])
removal_share_option = click.option(
    "--max-removal-share",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MAX_REMOVAL_SHARE,
    show_default=True,
    help="Share of an enterprise's users, or of its administrators, a plan may remove before gate G001 trips.",
)


full_option = click.option(
    "--full",
    is_flag=True,
    help="Read every enterprise, including those unchanged since their last apply (which are skipped by default).",
)


def override_options(command):
    """One --allow-... flag per safety gate, generated from the gates themselves."""
    for found in reversed(list(GATES.values())):
        command = click.option(
            found.override,
            "overrides",
            flag_value=found.override,
            multiple=True,
            help=f"Lift gate {found.id}: {found.summary}.",
        )(command)
    return command


def planned(
    paths: tuple[Path, ...],
    store: Store,
    actor: str | None,
    share: float,
    full: bool = False,
    progress: bool | None = None,
) -> tuple[Plan, str]:
    """Plan the declaration against the store, one enterprise at a time; any problem ends the command."""
    report_progress = is_tty(sys.stderr) if progress is None else progress
    result = plan_paths(paths, store, Policy(share, actor), full, show_progress if report_progress else None)
    if report_progress and is_tty(sys.stderr):
        click.echo("\r\033[K", err=True, nl=False)  # clear the progress line
    if result.problems:
        report(result.problems)
        raise SystemExit(1)
    return with_waiting_accounts(result.plan, store, datetime.now(UTC)), result.digest


def enterprises_in(plan: Plan) -> set[str]:
    return {n for n, _ in plan.versions} | {s[0] for s in plan.sync} | set(plan.skipped)


def send_new_codes(
    store: Store, delivery_url: str | None, login_url: str | None, numbers: set[str], actor: str | None
) -> None:
    """After an apply: codes for the accounts it created (nothing is printed when there are none)."""
    if store.awaiting_codes(numbers, limit=1):
        send_codes(store, delivery_url, login_url, numbers, actor, after_apply=True)


def is_tty(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def show_progress(done: int, total: int) -> None:
    """One line on stderr, rewritten in place on a terminal; plain lines when asked for in a log."""
    if is_tty(sys.stderr):
        click.echo(f"\rreading {done:,} of {total:,} files", err=True, nl=False)
    else:
        click.echo(f"reading {done:,} of {total:,} files", err=True)


progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Report files read on stderr (default: only on a terminal, never in CI logs).",
)


def echo_plan(
    plan: Plan, output_format: str, markdown_limit: int = DEFAULT_LIMIT, full_plan_at: str | None = None
) -> None:
    """Print a plan in the format asked for; text is printed as it is rendered."""
    if output_format == "json":
        click.echo(render_plan_json(plan), nl=False)
    elif output_format == "markdown":
        click.echo(render_plan_markdown(plan, markdown_limit, full_plan_at), nl=False)
    else:
        for chunk in plan_chunks(plan, color=use_color()):
            click.echo(chunk, nl=False)


def register(cli: click.Group) -> None:
    @cli.command()
    @paths_argument
    def validate(paths: tuple[Path, ...]) -> None:
        """Check YAML files (or folders of them) against the schema and the hierarchy rules."""
        desired = desired_or_exit(paths)
        click.echo(f"{plural(desired.files, 'file')} valid: {plural(len(desired.enterprises), 'enterprise')}.")

    @cli.command()
    @paths_argument
    @state_option
    @click.option(
        "--format",
        "output_format",
        type=FORMATS,
        default="text",
        show_default=True,
        help="text for people, json for programs (schemas/plan.schema.json), markdown for a pull-request comment.",
    )
    @click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
    @click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also save the plan to this file, for `reconciler apply FILE`.",
    )
    @actor_option
    @removal_share_option
    @click.option(
        "--markdown-limit",
        type=click.IntRange(min=1000),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="Longest Markdown comment, in characters; longer plans get a shortened comment.",
    )
    @full_option
    @progress_option
    def plan(
        paths: tuple[Path, ...],
        state_url: str,
        output_format: str,
        detailed_exitcode: bool,
        out: Path | None,
        actor: str | None,
        max_removal_share: float,
        markdown_limit: int,
        full: bool,
        progress: bool | None,
    ) -> None:
        """Show what apply would change to make the stored state match the declaration."""
        store = open_or_exit(state_url)
        try:
            result, digest = planned(paths, store, actor, max_removal_share, full, progress)
        finally:
            store.close()
        if out is not None:
            try:
                write_plan_file(out, result, digest)
            except OSError as error:
                fail(f"cannot write {out}: {error.strerror}")
        echo_plan(result, output_format, markdown_limit, str(out) if out else None)
        if detailed_exitcode and not result.is_empty:
            raise SystemExit(EXIT_CHANGES)

    @cli.command()
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
    @state_option
    @click.option("--auto-approve", is_flag=True, help="Apply without asking; for CI.")
    @lock_timeout_option
    @actor_option
    @removal_share_option
    @override_options
    @full_option
    @progress_option
    @delivery_options
    @click.option(
        "--defer-codes",
        is_flag=True,
        help="Do not send access codes now; `reconciler credentials issue` sends them later.",
    )
    def apply(
        paths: tuple[Path, ...],
        state_url: str,
        auto_approve: bool,
        lock_timeout: float,
        actor: str | None,
        max_removal_share: float,
        overrides: tuple[str, ...],
        full: bool,
        progress: bool | None,
        delivery_url: str | None,
        login_url: str | None,
        defer_codes: bool,
    ) -> None:
        """Apply a saved plan (apply FILE), or plan and apply the declaration (apply PATH...).

        Shows the plan, asks for confirmation on a terminal, and applies it in one transaction.
        Then sends access codes to the new accounts of the enterprises in the plan.
        """
        saved = None
        if len(paths) == 1 and is_plan_file(paths[0]):
            if actor:
                fail("--actor is given when planning; a saved plan carries the actor it was checked for")
            try:
                saved = read_plan_file(paths[0])
            except PlanFileError as error:
                fail(str(error), EXIT_PLAN_FILE)
        store = open_or_exit(state_url, lock_timeout)
        try:
            result = saved.plan if saved else planned(paths, store, actor, max_removal_share, full, progress)[0]
            echo_plan(result, "text")
            if result.is_empty:
                apply_plan(result, store)  # records what the enterprises were checked against
                if not defer_codes:
                    send_new_codes(store, delivery_url, login_url, enterprises_in(result), actor)
                return
            if unlifted(result.refusals, overrides):
                fail("refused by the safety gates above; nothing was changed", EXIT_REFUSED)
            if not auto_approve:
                if not is_terminal():
                    fail("not on a terminal, so nobody can confirm; pass --auto-approve to apply from a script")
                answer = click.prompt(
                    "\nApply these changes? Only 'yes' will be accepted", default="", show_default=False
                )
                if answer != "yes":
                    fail("apply cancelled; nothing was changed")
            try:
                apply_plan(result, store, overrides=frozenset(overrides))
            except StalePlan as error:
                fail(str(error), EXIT_STALE)
            except LockTimeout as error:
                fail(str(error), EXIT_LOCK)
            except Refused as error:
                fail(str(error), EXIT_REFUSED)
            except StoreError as error:
                fail(str(error))
            click.echo(
                f"\nApply complete: {plural(len(result.changes), 'change')} in "
                f"{plural(len(result.enterprises()), 'enterprise')}."
            )
            if not defer_codes:
                send_new_codes(store, delivery_url, login_url, enterprises_in(result), actor)
        finally:
            store.close()

    @cli.command()
    @click.argument("target", required=False)
    @state_option
    @click.option(
        "--format",
        "output_format",
        type=FORMATS,
        default="text",
        show_default=True,
        help="For plan files: text, json or markdown. For enterprises: text or json.",
    )
    def show(target: str | None, state_url: str, output_format: str) -> None:
        """Print a saved plan (show FILE), or the stored state: every enterprise, or one in detail."""
        if target and is_plan_file(Path(target)):
            try:
                saved = read_plan_file(Path(target))
            except PlanFileError as error:
                fail(str(error), EXIT_PLAN_FILE)
            echo_plan(saved.plan, output_format, full_plan_at=target)
            return
        store = open_or_exit(state_url)
        try:
            if target is None:
                click.echo(render_overview(store.read()), nl=False)
                return
            try:
                number = identifiers.enterprise_number(target)
            except identifiers.InvalidIdentifier as error:
                fail(str(error))
            stored = store.read([number]).get(number)
            if stored is None:
                fail(f"enterprise {number} is not in the store")
            accounts = store.accounts(number)
            now = datetime.now(UTC)
            if output_format == "json":
                document = {
                    "version": stored.version,
                    "declaration": enterprise_document(stored.state),
                    "accounts": [
                        {
                            "ssin": a.ssin,
                            "username": a.username,
                            "status": a.effective_status(now),
                            "codes_issued_at": a.codes_issued_at,
                            "activation_deadline": a.activation_deadline,
                            "activated_at": a.activated_at,
                            "deactivated_at": a.deactivated_at,
                        }
                        for a in accounts
                    ],
                }
                click.echo(json.dumps(document, indent=2, ensure_ascii=False))
            else:
                click.echo(render_enterprise(stored, accounts, now), nl=False)
        finally:
            store.close()
