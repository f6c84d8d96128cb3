"""who: access governance, asked of the stored state and its audit trail."""

from __future__ import annotations

import click

from reconciler.cli.common import fail, open_or_exit, say, state_option
from reconciler.declare import identifiers
from reconciler.plan.dormancy import DORMANT_AFTER_DAYS
from reconciler.plan.grants import EXPIRY_WINDOW_DAYS, presence_of
from reconciler.records import clock
from reconciler.render.who import render_who, who_document

dormant_after_option = click.option(
    "--dormant-after",
    "dormant_after",
    metavar="DAYS",
    type=click.IntRange(min=1),
    default=DORMANT_AFTER_DAYS,
    show_default=True,
    help="An active account without a login for this many days (since its activation when none) is dormant.",
)
expiry_window_option = click.option(
    "--expiry-window",
    "window",
    metavar="DAYS",
    type=click.IntRange(min=0),
    default=EXPIRY_WINDOW_DAYS,
    show_default=True,
    help="Mark grants that end within this many days.",
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
    def who(ssin: str, state_url: str, output_format: str, dormant_after: int, window: int) -> None:
        """Show one person across every enterprise of the store: roles, services, account, history.

        For each enterprise that declares the person: their name there, their roles and a user's
        services (each with the profiles that bring it), their account (status, dormant or not,
        last login), and for each grant when, by whom and by which apply it was given (from the
        audit trail) and when it ends.  Exits 1 when no enterprise declares the person.
        """
        try:
            person = identifiers.ssin(ssin)
        except identifiers.InvalidIdentifier as error:
            fail(str(error))
        store = open_or_exit(state_url)
        try:
            found = presence_of(store, person)
        finally:
            store.close()
        if not found:
            fail(f"no enterprise in the store declares the person {person}")
        now = clock.now()
        if output_format == "json":
            say(who_document(person, found, now, dormant_after, window))
        else:
            say(render_who(person, found, now, dormant_after, window), nl=False)
