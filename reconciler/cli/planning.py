"""validate, plan, apply and show: from declared files to the stored state."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from reconciler.accounts.waiting import with_waiting_accounts
from reconciler.apply.execute import NotAuthorised, Refused, WrongStore, apply_plan, check_saved_plan
from reconciler.cli.catalogue import catalogue_option
from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_LOCK,
    EXIT_PLAN_FILE,
    EXIT_REFUSED,
    EXIT_STALE,
    actor_option,
    cache_options,
    chain_broken,
    delivery_options,
    enterprise_selection_option,
    expiry_window_option,
    fail,
    is_terminal,
    lock_timeout_option,
    open_or_exit,
    paths_argument,
    plural,
    report,
    say,
    state_option,
    use_color,
    warn,
)
from reconciler.declare import identifiers
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.ending import DEFAULT_WINDOW, ending_across, ending_grants
from reconciler.plan.gates import DEFAULT_MAX_REMOVAL_SHARE, GATES, Policy, unlifted
from reconciler.plan.pipeline import plan_paths
from reconciler.plan.plan import Plan
from reconciler.plan.saved import (
    KEY_ENV,
    PlanFileError,
    SavedPlan,
    is_plan_file,
    read_plan_file,
    write_plan_file,
)
from reconciler.records import clock
from reconciler.render.export import enterprise_document
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import DEFAULT_LIMIT, render_plan_markdown
from reconciler.render.neutral import json_lines
from reconciler.render.problems import render_problems
from reconciler.render.show import enterprise_json, overview_document, render_enterprise, render_overview
from reconciler.render.text import ending_notice, plan_chunks, summary_chunks
from reconciler.store.audit import OVERRIDE, ChainBroken
from reconciler.store.port import LockTimeout, StalePlan, Store, StoreError

FORMATS = click.Choice(["text", "json", "markdown"])
PLAN_FORMATS = click.Choice(["text", "json", "markdown", "github", "sarif"])
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


audit_override_option = click.option(
    OVERRIDE,
    "overrides",
    flag_value=OVERRIDE,
    multiple=True,
    help="Write even though an enterprise's audit trail does not verify; recorded in the trail.",
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
    output_format: str = "text",
    only: frozenset[str] = frozenset(),
    expiry_window: int = DEFAULT_WINDOW,
    keep_facts: bool = False,
    cache: Path | None = None,
) -> tuple[Plan, str]:
    """Plan the declaration against the store, one enterprise at a time; any problem ends the command.

    ``keep_facts``: the plan carries what each file gave (``plan.facts``), for an apply to keep.
    """
    report_progress = is_tty(sys.stderr) if progress is None else progress
    result = plan_paths(
        paths,
        store,
        Policy(share, actor, expiry_window),
        full,
        show_progress if report_progress else None,
        only=only,
        keep_facts=keep_facts,
        cache=cache,
    )
    if report_progress and is_tty(sys.stderr):
        click.echo("\r\033[K", err=True, nl=False)  # clear the progress line
    if result.problems:
        report(result.problems, output_format)
        raise SystemExit(1)
    warn(result.warnings)
    return with_waiting_accounts(result.plan, store, clock.now()), result.digest


def enterprises_in(plan: Plan) -> set[str]:
    return {n for n, _ in plan.versions} | {s[0] for s in plan.sync} | set(plan.skipped)


def send_new_codes(
    store: Store,
    delivery_url: str | None,
    login_url: str | None,
    numbers: set[str],
    actor: str | None,
    overrides: tuple[str, ...],
) -> None:
    """After an apply: codes for the accounts it created (nothing is printed when there are none)."""
    if store.awaiting_codes(numbers, limit=1):
        # Letters, e-mail and argon2 are imported only when codes are sent: every plan imports this module.
        from reconciler.cli.accounts import send_codes  # noqa: PLC0415

        send_codes(
            store, delivery_url, login_url, numbers, actor, after_apply=True, allow_broken_audit=OVERRIDE in overrides
        )


def checked_saved_plan(saved: SavedPlan, store: Store, max_removal_share: float) -> Plan:
    """A saved plan applies only to the store it was made on, its actor's authority and the gates checked again."""
    if os.environ.get("CI") and not os.environ.get(KEY_ENV):
        fail(
            f"in CI a plan file applies only when signed ({KEY_ENV} set in both jobs); without a key anyone who "
            "can write the file decides what it says. Apply the declaration with --reviewed instead",
            EXIT_PLAN_FILE,
        )
    try:
        return check_saved_plan(saved, store, Policy(max_removal_share))
    except WrongStore as error:
        fail(str(error), EXIT_PLAN_FILE)
    except NotAuthorised as error:
        report(error.problems)
        fail("the plan's actor may not make these changes (by the stored state as it is now); nothing was changed")


def as_reviewed(plan: Plan, reviewed: SavedPlan, store: Store) -> None:
    """The plan made now must be the one reviewed: same store, same versions read, same changes."""
    if reviewed.store != store.identity():
        fail(f"the reviewed plan was made on store {reviewed.store}, not on {store.url}", EXIT_PLAN_FILE)
    if plan.versions != reviewed.plan.versions:
        fail("the store changed since the plan was reviewed: plan again and review that plan", EXIT_STALE)
    if plan.changes != reviewed.plan.changes:
        fail(
            "the declaration plans other changes than the reviewed plan (another change was merged since?); "
            "nothing was changed: plan again and review that plan",
            EXIT_PLAN_FILE,
        )


def applied(plan: Plan, store: Store, overrides: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """Apply, or end the command with the exit code that says why nothing was changed."""
    try:
        return apply_plan(plan, store, overrides=frozenset(overrides))
    except StalePlan as error:
        fail(str(error), EXIT_STALE)
    except LockTimeout as error:
        fail(str(error), EXIT_LOCK)
    except Refused as error:
        fail(str(error), EXIT_REFUSED)
    except ChainBroken as error:
        chain_broken(error)
    except StoreError as error:
        fail(str(error))


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


# Beyond this many changes a plan printed as text is a wall nobody reads (a first import of a
# registry has millions): it is printed as counts unless --full-text asks for every change.
LONG_PLAN = 5000

summary_option = click.option(
    "--summary/--full-text",
    "summary",
    default=None,
    help=f"Print the plan as counts per enterprise and quality (--summary) or every change (--full-text); "
    f"by default, text plans of more than {LONG_PLAN:,} changes are printed as counts. A plan saved with --out "
    "keeps every change: `reconciler show FILE`.",
)


def echo_plan(
    plan: Plan,
    output_format: str,
    markdown_limit: int = DEFAULT_LIMIT,
    full_plan_at: str | None = None,
    brief: bool | None = False,
) -> None:
    """Print a plan in the format asked for; text is printed as it is rendered.

    github prints the plan as text (the problems, when there are any, as workflow commands);
    sarif prints a SARIF log with no results (the plan itself is kept with --out).  ``brief``
    None: as counts when the plan is longer than ``LONG_PLAN`` changes, saying so.
    """
    if output_format == "github":
        output_format = "text"
    if brief is None and output_format == "text":
        brief = len(plan.changes) > LONG_PLAN
        if brief:
            where = f"`reconciler show {full_plan_at}`" if full_plan_at else "--full-text, or a plan saved with --out"
            say(f"{len(plan.changes):,} changes: printed as counts (every change: {where}).\n")
    if output_format == "sarif":
        say(render_problems([], "sarif"), nl=False)
    elif brief and output_format == "text":
        for chunk in summary_chunks(plan):
            say(chunk, nl=False)
    elif output_format == "json":
        say(render_plan_json(plan), nl=False)
    elif output_format == "markdown":
        say(render_plan_markdown(plan, markdown_limit, full_plan_at), nl=False)
    else:
        for chunk in plan_chunks(plan, color=use_color()):
            say(chunk, nl=False)


def register(cli: click.Group) -> None:
    @cli.command()
    @catalogue_option
    @paths_argument
    @state_option
    @click.option(
        "--format",
        "output_format",
        type=PLAN_FORMATS,
        default="text",
        show_default=True,
        help="text for people, json for programs (schemas/plan.schema.json), markdown for a pull-request comment. "
        "Problems: text on stderr; with json the problems document (schemas/problems.schema.json) on stdout; "
        "github prints them as workflow commands (the plan as text), sarif as SARIF 2.1.0 (with no problems, "
        "an empty log: keep the plan with --out).",
    )
    @click.option(
        "--detailed-exitcode",
        is_flag=True,
        help="Exit 0 when there are no changes, 2 when there are, 6 when a safety gate refuses them "
        "(unless lifted by the same --allow-... flags apply would be given).",
    )
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
    @override_options
    @summary_option
    @enterprise_selection_option
    @expiry_window_option
    @cache_options
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
        overrides: tuple[str, ...],
        summary: bool,
        only: frozenset[str],
        expiry_window: int,
        cache_dir: Path,
        no_cache: bool,
    ) -> None:
        """Show what apply would change to make the stored state match the declaration."""
        store = open_or_exit(state_url)
        try:
            # A plan file carries the facts only when signed: apply keeps them, and without a key
            # anyone who can write the file would decide what later plans take as read.
            signed = out is not None and bool(os.environ.get(KEY_ENV))
            result, digest = planned(
                paths,
                store,
                actor,
                max_removal_share,
                full,
                progress,
                output_format,
                only,
                expiry_window,
                signed,
                None if no_cache else cache_dir,
            )
            identity = store.identity()
        finally:
            store.close()
        if out is not None:
            try:
                write_plan_file(out, result, digest, identity)
            except OSError as error:
                fail(f"cannot write {out}: {error.strerror}")
        echo_plan(result, output_format, markdown_limit, str(out) if out else None, brief=summary)
        if detailed_exitcode and unlifted(result.refusals, overrides):
            raise SystemExit(EXIT_REFUSED)
        if detailed_exitcode and not result.is_empty:
            raise SystemExit(EXIT_CHANGES)

    @cli.command()
    @catalogue_option
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
    @state_option
    @click.option("--auto-approve", is_flag=True, help="Apply without asking; for CI.")
    @lock_timeout_option
    @actor_option
    @removal_share_option
    @override_options
    @audit_override_option
    @full_option
    @progress_option
    @delivery_options
    @click.option(
        "--defer-codes",
        is_flag=True,
        help="Do not send access codes now; `reconciler credentials issue` sends them later.",
    )
    @click.option(
        "--reviewed",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The plan reviewed in the pull request (plan --out): plan PATH... here as --actor (which must be "
        "the reviewed plan's actor) and apply only if the result is exactly the reviewed plan. The plan job then "
        "needs no key.",
    )
    @summary_option
    @enterprise_selection_option
    @expiry_window_option
    @cache_options
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
        reviewed: Path | None,
        summary: bool,
        only: frozenset[str],
        expiry_window: int,
        cache_dir: Path,
        no_cache: bool,
    ) -> None:
        """Apply a saved plan (apply FILE), or plan and apply the declaration (apply PATH...).

        Shows the plan, asks for confirmation on a terminal, and applies it in one transaction.
        Then sends access codes to the new accounts of the enterprises in the plan.
        """
        saved = None
        if len(paths) == 1 and is_plan_file(paths[0]):
            if actor:
                fail("--actor is given when planning; a saved plan carries the actor it was checked for")
            if only:
                fail("--enterprise selects what to plan; a saved plan is applied as it was reviewed, whole")
            try:
                saved = read_plan_file(paths[0])
            except PlanFileError as error:
                fail(str(error), EXIT_PLAN_FILE)
        expected = None
        if reviewed is not None:
            if saved:
                fail("--reviewed applies the declaration (PATH...), planned again here, not a saved plan")
            if not actor:
                fail("--reviewed needs --actor: who made the change, found by this job, not read from the plan file")
            try:
                expected = read_plan_file(reviewed, verify=False)  # only compared: its checksum proves nothing here
            except PlanFileError as error:
                fail(str(error), EXIT_PLAN_FILE)
            if expected.plan.actor != actor:
                fail(
                    f"the reviewed plan was made for actor {str(expected.plan.actor)[:20]}, not {actor}: "
                    "plan again as the author of the change",
                    EXIT_PLAN_FILE,
                )
        store = open_or_exit(state_url, lock_timeout)
        try:
            if saved:
                result = checked_saved_plan(saved, store, max_removal_share)
            else:
                result = planned(
                    paths,
                    store,
                    actor,
                    max_removal_share,
                    full,
                    progress,
                    only=only,
                    expiry_window=expiry_window,
                    keep_facts=True,
                    cache=None if no_cache else cache_dir,
                )[0]
            if expected is not None:
                as_reviewed(result, expected, store)
            echo_plan(result, "text", full_plan_at=str(paths[0]) if saved else None, brief=summary)
            if result.is_empty:
                applied(result, store, overrides)  # records what the enterprises were checked against
                if not defer_codes:
                    send_new_codes(store, delivery_url, login_url, enterprises_in(result), actor, overrides)
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
            heads = applied(result, store, overrides)
            done = (
                f"Apply complete: {plural(len(result.changes), 'change')} in "
                f"{plural(len(result.enterprises()), 'enterprise')} committed."
            )
            say("\n" + done, status=True)
            for number, (seq, head) in sorted(heads.items()):
                say(f"Audit trail of {format_enterprise_number(number)}: entry {seq}, head {head}", status=True)
            if not defer_codes:
                send_new_codes(store, delivery_url, login_url, enterprises_in(result), actor, overrides)
        finally:
            store.close()

    @cli.command()
    @catalogue_option
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
    @click.option("--enterprise", metavar="NUMBER", help="The enterprise to show in detail (as TARGET).")
    @expiry_window_option
    def show(
        target: str | None, state_url: str, output_format: str, enterprise: str | None, expiry_window: int
    ) -> None:
        """Print a saved plan (show FILE), or the stored state: every enterprise, or one in detail."""
        if enterprise is not None:
            if target is not None:
                fail("give the enterprise as TARGET or with --enterprise, not both")
            target = enterprise
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
                everything = store.read()
                ending = ending_across(
                    ((n, s.state.records) for n, s in everything.items()), clock.today(), expiry_window
                )
                if output_format == "json":
                    document = {**overview_document(everything), "ending": [item.document() for item in ending]}
                    say(json_lines(json.dumps(document, indent=2, ensure_ascii=False)))
                else:
                    say(render_overview(everything), nl=False)
                    say("".join(line + "\n" for line in ending_notice(ending)), nl=False)
                return
            try:
                number = identifiers.enterprise_number(target)
            except identifiers.InvalidIdentifier as error:
                fail(str(error))
            stored = store.read([number]).get(number)
            if stored is None:
                fail(f"enterprise {number} is not in the store")
            accounts = store.accounts(number)
            now = clock.now()
            ending = ending_grants(stored.state.records, clock.today(), expiry_window)
            if output_format == "json":
                document = enterprise_json(stored, enterprise_document(stored.state), accounts, now)
                say(
                    json_lines(
                        json.dumps(
                            {**document, "ending": [item.document() for item in ending]}, indent=2, ensure_ascii=False
                        )
                    )
                )
            else:
                say(render_enterprise(stored, accounts, now), nl=False)
                say("".join(line + "\n" for line in ending_notice(ending)), nl=False)
        finally:
            store.close()
