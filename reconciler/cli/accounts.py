"""Commands for the accounts' lifecycle: issue and reissue access codes, activate, serve the page."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime

import click

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import DeliveryError, open_delivery
from reconciler.accounts.delivery import login_url as resolve_login_url
from reconciler.accounts.lifecycle import NotAllowed, issue_codes, reissue_codes
from reconciler.cli.common import (
    EXIT_LOCK,
    chain_broken,
    delivery_options,
    enterprise_or_exit,
    fail,
    open_or_exit,
    plural,
    say,
    state_option,
)
from reconciler.declare import identifiers
from reconciler.plan.authority import CONTACT_CENTER
from reconciler.records import clock
from reconciler.store.audit import OVERRIDE, ChainBroken, run_id
from reconciler.store.port import LockTimeout, Store, StoreError


def _now() -> datetime:
    return clock.now()


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
    @audit_override_option
    def issue(
        enterprises: tuple[str, ...],
        state_url: str,
        delivery_url: str | None,
        login_url: str | None,
        allow_broken_audit: bool,
    ) -> None:
        """Send codes to every account still waiting for them (after `apply --defer-codes`, or a failed send)."""
        numbers = [enterprise_or_exit(e) for e in enterprises] or None
        store = open_or_exit(state_url)
        try:
            send_codes(store, delivery_url, login_url, numbers, noun="account", allow_broken_audit=allow_broken_audit)
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
    @audit_override_option
    def reissue(
        who: str,
        enterprise: str,
        actor: str,
        operator: str | None,
        state_url: str,
        delivery_url: str | None,
        login_url: str | None,
        allow_broken_audit: bool,
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
                    store,
                    delivery,
                    actor,
                    number,
                    who,
                    _now(),
                    resolve_login_url(login_url),
                    run_id(),
                    operator,
                    allow_broken_audit=allow_broken_audit,
                )
            finally:
                delivery.close()
        except ChainBroken as error:
            chain_broken(error)
        except (NotAllowed, DeliveryError, StoreError) as error:
            fail(str(error), EXIT_LOCK if isinstance(error, LockTimeout) else 1)
        finally:
            store.close()
        assert account.activation_deadline is not None  # reissuing codes set it
        say(
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
    @click.option(
        "--trusted-proxies",
        type=click.IntRange(0, 16),
        default=0,
        show_default=True,
        metavar="N",
        help="Reverse proxies in front that append to X-Forwarded-For: client addresses are read from there. "
        "With 0, every client seems to come from the proxy and all share one attempt budget.",
    )
    @click.option(
        "--attempts-per-minute",
        type=click.IntRange(1, 100_000),
        default=None,
        metavar="N",
        help="Posts of the login and first-login forms allowed per client address and minute (default 20).",
    )
    def serve(
        state_url: str,
        host: str,
        port: int,
        threads: int,
        secure_cookies: bool,
        trusted_proxies: int,
        attempts_per_minute: int | None,
    ) -> None:
        """Serve the first-login page and the overview of what each person administers."""
        # Flask and waitress are loaded by the one command that serves pages, not by plan and apply.
        from waitress import serve as waitress_serve  # noqa: PLC0415

        from reconciler.web.app import create_app  # noqa: PLC0415
        from reconciler.web.throttle import ATTEMPTS_PER_MINUTE  # noqa: PLC0415

        open_or_exit(state_url).close()  # fail now, not at the first request, when the store is unusable
        app = create_app(
            state_url,
            secure_cookies=secure_cookies,
            attempts_per_minute=attempts_per_minute or ATTEMPTS_PER_MINUTE,
            trusted_proxies=trusted_proxies,
        )
        click.echo(
            f"First-login page: http://{host}:{port}/first-login  (log in: http://{host}:{port}/login)", err=True
        )
        waitress_serve(app, host=host, port=port, threads=threads, ident="reconciler")


AFTER_APPLY = "; the apply itself is complete: send the codes with `reconciler credentials issue`"


def send_codes(
    store: Store,
    delivery_url: str | None,
    login_url: str | None,
    numbers: Iterable[str] | None,
    actor: str | None = None,
    noun: str = "new account",
    after_apply: bool = False,
    allow_broken_audit: bool = False,
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
                allow_broken_audit=allow_broken_audit,
            )
        finally:
            delivery.close()
    except ChainBroken as error:
        chain_broken(error)
    except DeliveryError as error:
        fail(f"{error}{AFTER_APPLY if after_apply else ''}")
    except LockTimeout as error:
        fail(str(error), EXIT_LOCK)
    except StoreError as error:
        fail(f"{error}{AFTER_APPLY if after_apply else ''}")
    say(f"Access codes sent for {plural(sent, noun)}: {delivery.description}.", status=True)


audit_override_option = click.option(
    OVERRIDE,
    "allow_broken_audit",
    is_flag=True,
    help="Write even though an enterprise's audit trail does not verify; recorded in the trail.",
)


def _progress(done: int, total: int) -> None:
    click.echo(f"\rissuing codes: {done:,} of {total:,}", err=True, nl=done == total)
