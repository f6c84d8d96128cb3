"""who and review: access governance, asked of the stored state and its audit trail."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.accounts.signing import NotAllowed, sign_review
from reconciler.cli.accounts import audit_override_option
from reconciler.cli.common import (
    EXIT_AUDIT,
    chain_broken,
    enterprise_or_exit,
    expiry_window_option,
    fail,
    open_or_exit,
    plural,
    say,
    state_option,
    trail_problems_said,
)
from reconciler.declare import identifiers
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.dormancy import DORMANT_AFTER_DAYS
from reconciler.plan.grants import verified_presence_of
from reconciler.plan.review import Review, review_of
from reconciler.records import clock
from reconciler.render.review import (
    render_review_csv,
    render_review_json,
    render_review_markdown,
    render_review_text,
)
from reconciler.render.review_html import render_review_html
from reconciler.render.who import render_who, who_document
from reconciler.store.audit import OVERRIDE, ChainBroken, run_id
from reconciler.store.files import write_private
from reconciler.store.port import StoreError

REVIEW_FORMATS = {
    "text": render_review_text,
    "markdown": render_review_markdown,
    "csv": render_review_csv,
    "json": render_review_json,
    "html": render_review_html,
}

dormant_after_option = click.option(
    "--dormant-after",
    "dormant_after",
    metavar="DAYS",
    type=click.IntRange(min=1),
    default=DORMANT_AFTER_DAYS,
    show_default=True,
    help="An active account without a login for this many days (since its activation when none) is dormant.",
)


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("ssin", metavar="SSIN")
    @state_option
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="text for people, json for programs (schemas/who.schema.json).",
    )
    @dormant_after_option
    @expiry_window_option
    @click.option(
        OVERRIDE,
        "allow_broken_audit",
        is_flag=True,
        help="Show the person even though the audit trail of an enterprise does not verify (what it says of "
        "who gave or removed what may then be false).",
    )
    def who(
        ssin: str, state_url: str, output_format: str, dormant_after: int, expiry_window: int, allow_broken_audit: bool
    ) -> None:
        """Show one person across every enterprise of the store: roles, services, account, history.

        For each enterprise that declares the person: their name there, their roles and a user's
        services (each with the profiles that bring it), their account (status, dormant or not,
        last login), and for each grant when, by whom and by which apply it was given (from the
        audit trail) and when it ends.  An enterprise that removed the person and keeps their
        account (deactivated) is shown too, as former, with the apply that removed them.  Exits 1
        when no enterprise declares the person (after showing the former ones, if any), and 7,
        showing nothing, when the audit trail of one of those enterprises does not verify.
        """
        try:
            person = identifiers.ssin(ssin)
        except identifiers.InvalidIdentifier as error:
            fail(str(error))
        store = open_or_exit(state_url)
        try:
            found, problems = verified_presence_of(store, person)
        finally:
            store.close()
        if not found:
            fail(f"no enterprise in the store declares the person {person}")
        _trails_verified(problems, allow_broken_audit)
        now = clock.now()
        if output_format == "json":
            say(who_document(person, found, now, dormant_after, expiry_window))
        else:
            say(render_who(person, found, now, dormant_after, expiry_window), nl=False)
        if not any(presence.declared for presence in found):
            fail(f"no enterprise in the store declares the person {person} any more")

    @cli.command()
    @click.argument("enterprises", nargs=-1, metavar="[ENTERPRISE]...")
    @state_option
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(list(REVIEW_FORMATS)),
        default="text",
        show_default=True,
        help="text for people, markdown for a comment or wiki, csv for a spreadsheet, json for programs "
        "(schemas/review.schema.json), html for one self-contained page to keep or print.",
    )
    @dormant_after_option
    @expiry_window_option
    @click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the report to this file (readable by its owner only) instead of standard output.",
    )
    @click.option(
        "--sign",
        is_flag=True,
        help="Record in the enterprise's audit trail that --actor reviewed it (one ENTERPRISE), with the "
        "report's digest.",
    )
    @click.option("--actor", metavar="SSIN", help="Who signs (--sign): the main or a co-main access manager.")
    @audit_override_option
    def review(
        enterprises: tuple[str, ...],
        state_url: str,
        output_format: str,
        dormant_after: int,
        expiry_window: int,
        out: Path | None,
        sign: bool,
        actor: str | None,
        allow_broken_audit: bool,
    ) -> None:
        """The access review of enterprises (every stored one but off-boarded ones when none is named).

        One row per grant: the quality, the person (name and SSIN), the role or a user's services
        (each with the profile that brings it, or direct), when and by whom it was granted (from the
        audit trail), the last login, the end date, and flags: dormant, not activated yet, codes
        expired, ending soon, administers several qualities, a quality without a co-access manager,
        added since the last signed review; and once per enterprise: no co-main access manager.
        Each enterprise shows its last signed review (when, by whom, digest). Exits 7, showing
        nothing, when the audit trail of one of the enterprises does not verify;
        --allow-broken-audit-trail shows the report anyway, with a warning.

        With --sign --actor SSIN, the main or a co-main access manager of the one ENTERPRISE given
        records in its audit trail that they reviewed it, with the digest of the report's canonical
        JSON; no record changes and the enterprise's version stays.
        """
        numbers = [enterprise_or_exit(number) for number in enterprises]
        if sign:
            if len(numbers) != 1 or actor is None:
                fail("--sign takes exactly one ENTERPRISE and --actor SSIN (the main or a co-main access manager)")
            _sign(state_url, numbers[0], actor, dormant_after, expiry_window, allow_broken_audit)
            return
        if actor is not None:
            fail("--actor goes with --sign: a review that is only read writes nothing")
        store = open_or_exit(state_url)
        try:
            found, missing = review_of(store, numbers or None, clock.now(), dormant_after, expiry_window)
        except StoreError as error:
            fail(str(error))
        finally:
            store.close()
        if missing:
            fail(f"not in the store: {', '.join(format_enterprise_number(number) for number in missing)}")
        _trails_verified(list(found.trail_problems), allow_broken_audit)
        _write_report(found, output_format, out)


def _trails_verified(problems: list[str], allow_broken_audit: bool) -> None:
    """Who gave or removed what is read from audit trails: say what is wrong with them, and show
    nothing (exit 7) unless asked to, with a warning, by --allow-broken-audit-trail."""
    trail_problems_said(problems)
    if problems and not allow_broken_audit:
        fail(
            "the audit trail above does not verify, so who gave or removed what cannot be told from it and "
            f"nothing is shown; find out why (`reconciler audit verify`), or show it anyway with {OVERRIDE}",
            EXIT_AUDIT,
        )
    if problems:
        click.echo(
            "warning: the audit trail above does not verify: the dates, people and applies below that come "
            "from it may be false",
            err=True,
        )


def _write_report(found: Review, output_format: str, out: Path | None) -> None:
    shown = REVIEW_FORMATS[output_format](found)
    if out is None:
        say(shown, nl=False)
        return
    try:
        write_private(out, shown)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}")
    click.echo(f"Access review of {plural(len(found.enterprises), 'enterprise')} written to {out}.", err=True)


def _sign(state_url: str, number: str, actor: str, dormant_after: int, expiry_window: int, allow_broken: bool) -> None:
    try:
        signer = identifiers.ssin(actor)
    except identifiers.InvalidIdentifier as error:
        fail(f"--actor: {error}")
    store = open_or_exit(state_url)
    try:
        signed = sign_review(store, number, signer, clock.now(), run_id(), dormant_after, expiry_window, allow_broken)
    except NotAllowed as refused:
        fail(str(refused))
    except ChainBroken as error:
        chain_broken(error)
    except StoreError as error:
        fail(str(error))
    finally:
        store.close()
    label = format_enterprise_number(number)
    say(
        f"Access review of {label} signed by {signer}: {plural(len(signed.review.rows), 'grant')}, "
        f"digest {signed.review.digest}.",
        status=True,
    )
    say(f"Audit trail of {label}: entry {signed.entry}, head {signed.head}", status=True)
