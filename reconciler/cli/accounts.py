"""Commands for the accounts' lifecycle: issue and reissue access codes, activate, serve the page."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import click

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import DeliveryError, open_delivery
from reconciler.accounts.delivery import login_url as resolve_login_url
from reconciler.accounts.lifecycle import NotAllowed, issue_codes, reissue_codes
from reconciler.cli.common import (
    EXIT_LOCK,
    delivery_options,
    enterprise_or_exit,
    fail,
    open_or_exit,
    plural,
    state_option,
)
from reconciler.declare import identifiers
from reconciler.plan.authority import CONTACT_CENTER
from reconciler.store.audit import run_id
from reconciler.store.port import LockTimeout, Store, StoreError


def _now() -> datetime:
    return datetime.now(UTC)


def register(cli: click.Group) -> None:
    @cli.group()
    def credentials() -> None:
        """Access codes: user name and temporary password, sent in two halves."""

    @credentials.command("issue")
    @click.option(
        "--enterprise",
        "enterprises",
        multiple=True,
        metavar="NUMBER",
        help="Only this enterprise (repeatable); all enterprises by default.",
    )
    @state_option
    @delivery_options
    def issue(enterprises: tuple[str, ...], state_url: str, delivery_url: str | None, login_url: str | None) -> None:
        """Send codes to every account still waiting for them (after `apply --defer-codes`, or a failed send)."""
        numbers = [enterprise_or_exit(e) for e in enterprises] or None
        store = open_or_exit(state_url)
        try:
            send_codes(store, delivery_url, login_url, numbers, noun="account")
        finally:
            store.close()

    @credentials.command("reissue")
    @click.argument("who")
    @click.option("--enterprise", required=True, metavar="NUMBER", help="The enterprise of the account.")
    @click.option(
        "--actor",
        required=True,
        metavar="SSIN",
        help=f"Who issues the codes: the level above the account, or '{CONTACT_CENTER}' for a main access manager.",
    )
    @click.option(
        "--operator", metavar="NAME", help=f"With --actor {CONTACT_CENTER}: the operator's name, for the audit trail."
    )
    @state_option
    @delivery_options
    def reissue(
        who: str,
        enterprise: str,
        actor: str,
        operator: str | None,
        state_url: str,
        delivery_url: str | None,
        login_url: str | None,
    ) -> None:
        """New access codes for one account (WHO: user name or national register number).

        Allowed to the level above the account only; the old codes and password stop working
        at once, and the issue is recorded in the audit trail.
        """
        number = enterprise_or_exit(enterprise)
        if actor != CONTACT_CENTER:
            try:
                actor = identifiers.ssin(actor)
            except identifiers.InvalidIdentifier as error:
                fail(f"--actor: {error}")
        store = open_or_exit(state_url)
        try:
            delivery = open_delivery(delivery_url)
            try:
                account = reissue_codes(
                    store, delivery, actor, number, who, _now(), resolve_login_url(login_url), run_id(), operator
                )
            finally:
                delivery.close()
        except (NotAllowed, DeliveryError, StoreError) as error:
            fail(str(error), EXIT_LOCK if isinstance(error, LockTimeout) else 1)
        finally:
            store.close()
        assert account.activation_deadline is not None  # reissuing codes set it
        click.echo(
            f"New access codes sent for {account.username} ({delivery.description}); "
            f"they expire on {account.activation_deadline[:10]}."
        )

    @cli.command()
    @state_option
    def activate(state_url: str) -> None:
        """First login on a terminal: access codes, national register number, new password twice."""
        store = open_or_exit(state_url)
        try:
            try:
                account = firstlogin.start(
                    store, click.prompt("User name"), click.prompt("Temporary password", hide_input=True), _now()
                )
                firstlogin.confirm_identity(store, account, click.prompt("National register number"), _now())
                while True:
                    password = click.prompt("New password", hide_input=True)
                    confirmation = click.prompt("New password, again", hide_input=True)
                    try:
                        account = firstlogin.choose_password(store, account, password, confirmation, _now(), run_id())
                        break
                    except firstlogin.PasswordRejected as rejected:
                        for problem in rejected.problems:
                            click.echo(problem, err=True)
            except firstlogin.LoginRefused as refused:
                fail(str(refused))
        finally:
            store.close()
        click.echo(f"Account {account.username} is active. From now on, log in with your new password.")

    @cli.command()
    @state_option
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
    @click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True)
    @click.option(
        "--secure-cookies",
        is_flag=True,
        help="Send the session cookie over HTTPS only (when served behind a TLS proxy).",
    )
    def serve(state_url: str, host: str, port: int, threads: int, secure_cookies: bool) -> None:
        """Serve the first-login page and the overview of what each person administers."""
        # Flask and waitress are loaded by the one command that serves pages, not by plan and apply.
        from waitress import serve as waitress_serve  # noqa: PLC0415

        from reconciler.web.app import create_app  # noqa: PLC0415

        open_or_exit(state_url).close()  # fail now, not at the first request, when the store is unusable
        app = create_app(state_url, secure_cookies=secure_cookies)
        click.echo(
            f"First-login page: http://{host}:{port}/first-login  (log in: http://{host}:{port}/login)", err=True
        )
        waitress_serve(app, host=host, port=port, threads=threads, ident="reconciler")


def send_codes(
    store: Store,
    delivery_url: str | None,
    login_url: str | None,
    numbers: Iterable[str] | None,
    actor: str | None = None,
    noun: str = "new account",
    after_apply: bool = False,
) -> None:
    """Send access codes to every account of ``numbers`` (all when None) still waiting for them."""
    try:
        delivery = open_delivery(delivery_url)
        try:
            sent = issue_codes(
                store,
                delivery,
                numbers,
                _now(),
                resolve_login_url(login_url),
                run_id(),
                actor,
                progress=_progress if sys.stderr.isatty() else None,
            )
        finally:
            delivery.close()
    except DeliveryError as error:
        hint = (
            "; the apply itself is complete: send the codes with `reconciler credentials issue`" if after_apply else ""
        )
        fail(f"{error}{hint}")
    except LockTimeout as error:
        fail(str(error), EXIT_LOCK)
    click.echo(f"Access codes sent for {plural(sent, noun)}: {delivery.description}.")


def _progress(done: int, total: int) -> None:
    click.echo(f"\rissuing codes: {done:,} of {total:,}", err=True, nl=done == total)
