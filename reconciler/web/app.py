"""The first-login page and the read-only overview, as a Flask application.

Thin, like the CLI: each view reads a form, calls ``firstlogin`` or ``overview`` and
renders a template.  Sessions live on the server (``firstlogin.open_session``): the
signed cookie carries only a random token, which logging out, 30 idle minutes, 8 hours,
new codes or a deactivation make worthless.  The cookie also carries the first-login
steps done so far (user name, session epoch, step, start time: nothing secret), which new
codes end.  Forms carry a CSRF token (Flask-WTF) and are small (``FORM_LIMIT``); failed
attempts lock a user name out (``firstlogin``), and a client address that posts too
often is slowed down (``throttle``).

Every page speaks the reader's language (``reconciler.locale``): the one chosen with the
switch on every page (kept in the session), else, once the person is known (the right
codes typed, or signed in), the language declared for them, else the browser's
Accept-Language, else English.  A person is never answered in their declared language
before they proved who they are: that would tell a stranger the account exists.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from datetime import datetime

from flask import (
    Flask,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from reconciler.accounts import firstlogin
from reconciler.accounts.lifecycle import utc_now
from reconciler.accounts.overview import overview, status_phrase
from reconciler.declare.characters import escape
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.locale import DEFAULT, LANGUAGES, N_, NAMES, Phrase, supported, translations
from reconciler.store.audit import ChainBroken, run_id
from reconciler.store.backends import open_store
from reconciler.store.port import Account, Store, now_text
from reconciler.web.review import may_review, review_page
from reconciler.web.throttle import ATTEMPTS_PER_MINUTE, TRACKED_ADDRESSES, AddressThrottle

SECRET_ENV = "RECONCILER_SECRET_KEY"  # noqa: S105 - the name of a variable, not a secret
FORM_LIMIT = 16 * 1024  # bytes of a request body: the largest form is a CSRF token and two passwords
# The views that check something a person typed: each post to them counts for the client address.
CHECKING_VIEWS = frozenset({"login", "first_login", "identity", "new_password"})
EXPIRED_FLOW = N_("This activation is no longer valid. Start again with the codes of your latest letters.")
START_FIRST = N_("Start with your user name and temporary password.")
ACTIVATED = N_("Your account is active. From now on, log in with your user name and your new password.")
# Pages the language switch may return to: never a URL from the request (no open redirect).
RETURNABLE = ("/", "/login", "/first-login", "/first-login/identity", "/first-login/password", "/me", "/review")


def current_language() -> str:
    """The language of this request's page (see the module's docstring for the order)."""
    return g.get("chosen") or g.get("declared") or g.get("browser") or DEFAULT


def say(text: str | Phrase) -> str:
    """A phrase, or a text marked with ``N_``, in the language of this request."""
    if isinstance(text, Phrase):
        return text.say(current_language())
    return translations(current_language()).gettext(text)


def speak_to(account: Account) -> None:
    """The person is known: their declared language now comes before the browser's."""
    g.declared = supported(account.language)


def create_app(
    state_url: str,
    secret_key: str | None = None,
    secure_cookies: bool = False,
    clock: Callable[[], datetime] = utc_now,
    attempts_per_minute: int = ATTEMPTS_PER_MINUTE,
    tracked_addresses: int = TRACKED_ADDRESSES,
    trusted_proxies: int = 0,
) -> Flask:
    """The application on the store at ``state_url``; ``clock`` is when it is (tests move it).

    ``trusted_proxies``: how many reverse proxies in front of the server append to
    X-Forwarded-For; the client address (for slowing down sprays) is then read from there.
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get(SECRET_ENV) or secrets.token_hex(32),
        # __Host-: the browser takes the cookie only over HTTPS, for this host, for every path.
        SESSION_COOKIE_NAME="__Host-session" if secure_cookies else "session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=firstlogin.IDLE,
        WTF_CSRF_TIME_LIMIT=int(firstlogin.IDLE.total_seconds()),
        MAX_CONTENT_LENGTH=FORM_LIMIT,
    )
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies)  # type: ignore[method-assign]
    throttle = AddressThrottle(attempts_per_minute, tracked=tracked_addresses)

    @app.before_request
    def choose_language() -> None:
        """First of all: every answer, a refusal too, is in the reader's language."""
        g.chosen = supported(session.get("language"))
        g.browser = request.accept_languages.best_match(LANGUAGES)

    @app.before_request
    def slow_down_sprays() -> ResponseReturnValue | None:
        """Before the CSRF check and any store access: a refused post costs nothing."""
        if request.method != "POST" or request.endpoint not in CHECKING_VIEWS:
            return None
        wait = throttle.attempt(request.remote_addr or "", clock())
        if wait is None:
            return None
        response = make_response(
            render_template(
                "message.html",
                title=say(N_("Too many attempts")),
                message=say(N_("Too many attempts from your network address. Wait a minute, then try again.")),
            ),
            429,
        )
        response.headers["Retry-After"] = str(wait)
        return response

    # Declared names are data: Jinja escapes markup, ``declared`` shows control and format
    # characters as escapes, and templates isolate each name (<bdi>) from the text around it.
    app.jinja_env.filters["declared"] = escape
    app.jinja_env.filters["say"] = say
    app.jinja_env.filters["status"] = lambda status: say(status_phrase(status))
    # A value that is a Phrase (a text of ours) or data (a date, an SSIN): only the first is translated.
    app.jinja_env.filters["phrase"] = lambda value: say(value) if isinstance(value, Phrase) else value
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: translations(current_language()).gettext(text),
        ngettext=lambda singular, plural, n: translations(current_language()).ngettext(singular, plural, n),
        newstyle=True,  # values are put in after translation, and escaped
    )

    @app.context_processor
    def page_language() -> dict[str, object]:
        return {"lang": current_language(), "languages": [(code, NAMES[code]) for code in LANGUAGES]}

    CSRFProtect(app)  # after slow_down_sprays: before-request functions run in this order
    local = threading.local()

    def store() -> Store:
        """One store (one connection) per server thread."""
        if getattr(local, "store", None) is None:
            local.store = open_store(state_url)
        return local.store

    def signed_in() -> Account | None:
        token = session.get("token")
        if not isinstance(token, str):
            return None
        account = firstlogin.session_account(store(), token, clock())
        if account is None:
            session.clear()
        return account

    def forget_session() -> None:
        """Empty the cookie, and end on the server the session it named: a copy of it opens nothing.

        The language chosen with the switch stays: it says nothing about anyone."""
        token = session.get("token")
        if isinstance(token, str):
            firstlogin.close_session(store(), token)
        chosen = session.get("language")
        session.clear()
        if supported(chosen):
            session["language"] = chosen

    def sign_in(account: Account) -> None:
        """A new token at every sign-in, in a cookie emptied first: nothing from before carries over."""
        forget_session()
        session.permanent = True
        session["token"] = firstlogin.open_session(store(), account, clock())

    def flow_account() -> Account:
        flow = session.get("flow")
        if not flow:
            raise firstlogin.LoginRefused(START_FIRST)
        if flow.get("started", "") <= now_text(clock() - firstlogin.IDLE):
            raise firstlogin.LoginRefused(EXPIRED_FLOW)
        return firstlogin.current(store(), flow["username"], flow["epoch"], clock())

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
        return render_template(
            "message.html",
            title=say(N_("The form is too large")),
            message=say(N_("What was sent is far longer than this form takes.")),
        ), 413

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return render_template(
            "message.html",
            title=say(N_("The form expired")),
            message=say(N_("The page was open too long or was not sent by this site. Reload it and try again.")),
        ), 400

    @app.get("/language/<code>")
    def choose(code: str) -> ResponseReturnValue:
        """The language switch: kept in the session, then back to the page it was used on."""
        if supported(code):
            session["language"] = code
        back = request.args.get("next", "")
        return redirect(back if back in RETURNABLE else url_for("home"))

    @app.get("/")
    def home() -> ResponseReturnValue:
        return redirect(url_for("me") if signed_in() else url_for("login"))

    def refused_page(template: str, refused: firstlogin.LoginRefused, **context: object) -> tuple[str, int]:
        """A page with the reason an attempt failed; expired codes also say who issues new ones."""
        if isinstance(refused, firstlogin.CodesExpired):
            speak_to(refused.account)  # they typed the right codes: they are who the codes were for
            context |= {"error": say(refused.expired), "new_codes": refused.new_codes}
        else:
            context["error"] = say(refused.phrase)
        return render_template(template, **context), 401

    @app.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        if request.method == "POST":
            try:
                sign_in(
                    firstlogin.login(
                        store(), request.form.get("username", ""), request.form.get("password", ""), clock()
                    )
                )
                return redirect(url_for("me"))
            except firstlogin.LoginRefused as refused:
                return refused_page("login.html", refused)
        return render_template("login.html")

    @app.route("/first-login", methods=["GET", "POST"])
    def first_login() -> ResponseReturnValue:
        if request.method == "POST":
            try:
                account = firstlogin.start(
                    store(), request.form.get("username", ""), request.form.get("temporary_password", ""), clock()
                )
                forget_session()
                session["flow"] = {
                    "username": account.username,
                    "epoch": account.session_epoch,  # new codes move it: the steps done so far no longer count
                    "step": "identity",
                    "started": now_text(clock()),
                }
                return redirect(url_for("identity"))
            except firstlogin.LoginRefused as refused:
                return refused_page("first_login.html", refused)
        return render_template("first_login.html")

    @app.route("/first-login/identity", methods=["GET", "POST"])
    def identity() -> ResponseReturnValue:
        try:
            account = flow_account()
        except firstlogin.LoginRefused as refused:
            session.pop("flow", None)
            return refused_page("first_login.html", refused)
        speak_to(account)
        error = None
        if request.method == "POST":
            try:
                firstlogin.confirm_identity(store(), account, request.form.get("ssin", ""), clock())
                session["flow"] = {**session["flow"], "step": "password"}
                return redirect(url_for("new_password"))
            except firstlogin.LockedOut as locked:
                session.pop("flow", None)
                return refused_page("first_login.html", locked)
            except firstlogin.LoginRefused as refused:
                error = say(refused.phrase)
        return render_template("identity.html", account=account, error=error), 401 if error else 200

    @app.route("/first-login/password", methods=["GET", "POST"])
    def new_password() -> ResponseReturnValue:
        try:
            account = flow_account()
            if session["flow"].get("step") != "password":
                return redirect(url_for("identity"))
        except firstlogin.LoginRefused as refused:
            session.pop("flow", None)
            return refused_page("first_login.html", refused)
        speak_to(account)
        problems: list[str] = []
        if request.method == "POST":
            try:
                activated = firstlogin.choose_password(
                    store(),
                    account,
                    request.form.get("password", ""),
                    request.form.get("confirmation", ""),
                    clock(),
                    run_id(),
                )
                sign_in(activated)
                flash(ACTIVATED)  # translated when shown, in the language of that page
                return redirect(url_for("me"))
            except firstlogin.PasswordRejected as rejected:
                problems = [say(problem) for problem in rejected.phrases]
            except firstlogin.LoginRefused as refused:
                session.pop("flow", None)
                return refused_page("first_login.html", refused)
            except ChainBroken:
                # Nothing is written while the enterprise's audit trail fails its check ("no audit, no
                # request"); the person can do nothing about it, so they are told to come back.
                return render_template(
                    "message.html",
                    title=say(N_("Your account cannot be activated right now")),
                    message=say(
                        N_(
                            "The register of changes of your enterprise failed a security check, so no change "
                            "can be made to it for now. Your access codes stay valid until their deadline: try "
                            "again later, and tell the person who manages your access."
                        )
                    ),
                ), 503
        return render_template("password.html", account=account, problems=problems), 400 if problems else 200

    @app.get("/me")
    def me() -> ResponseReturnValue:
        account = signed_in()
        if account is None:
            return redirect(url_for("login"))
        speak_to(account)
        return render_template(
            "me.html",
            view=overview(store(), account, clock(), current_language()),
            number=format_enterprise_number(account.enterprise),
            reviewer=may_review(store(), account),
        )

    def review_of_enterprise(number: str | None) -> ResponseReturnValue:
        """The access review, for the main and co-main access managers of the enterprise, and nobody else."""
        account = signed_in()
        if account is None:
            return redirect(url_for("login"))
        speak_to(account)
        wanted = account.enterprise if number is None else "".join(ch for ch in number if ch.isdigit())
        page = review_page(store(), account, clock()) if wanted == account.enterprise else None
        if page is None:  # another enterprise's review is refused the same way: it says nothing of it
            return render_template(
                "message.html",
                title=say(N_("You may not see this page")),
                message=say(
                    N_(
                        "Only the main access manager and the co-main access managers of an enterprise see its "
                        "access review."
                    )
                ),
            ), 403
        return render_template(
            "review.html", page=page, account=account, number=format_enterprise_number(account.enterprise)
        )

    @app.get("/review")
    def review() -> ResponseReturnValue:
        return review_of_enterprise(None)

    @app.get("/review/<number>")
    def review_of(number: str) -> ResponseReturnValue:
        return review_of_enterprise(number)

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        forget_session()
        return redirect(url_for("login"))

    return app
