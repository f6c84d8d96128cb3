"""The first-login page and the read-only overview, as a Flask application.

Thin, like the CLI: each view reads a form, calls ``firstlogin`` or ``overview`` and
renders a template.  Sessions are signed cookies that carry the account's user name
(never its national register number: the cookie is signed, not encrypted) and session
epoch, so new codes or a deactivation end every open session at its next request.
Forms carry a CSRF token (Flask-WTF); failed attempts lock a user name out (``firstlogin``).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import (
    Flask,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect

from reconciler.accounts import firstlogin
from reconciler.accounts.lifecycle import utc_now
from reconciler.accounts.overview import overview
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.store.audit import run_id
from reconciler.store.backends import open_store
from reconciler.store.port import Account, Store

SECRET_ENV = "RECONCILER_SECRET_KEY"  # noqa: S105 - the name of a variable, not a secret


def create_app(
    state_url: str, secret_key: str | None = None, secure_cookies: bool = False, clock: Callable[[], datetime] = utc_now
) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get(SECRET_ENV) or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=30),
        WTF_CSRF_TIME_LIMIT=1800,
    )
    CSRFProtect(app)
    local = threading.local()

    def store() -> Store:
        """One store (one connection) per server thread."""
        if getattr(local, "store", None) is None:
            local.store = open_store(state_url)
        return local.store

    def signed_in() -> Account | None:
        found = session.get("account")
        if not found:
            return None
        account = firstlogin.signed_in(store(), found["username"], found["epoch"])
        if account is None:
            session.clear()
        return account

    def sign_in(account: Account) -> None:
        session.clear()
        session.permanent = True
        session["account"] = {"username": account.username, "epoch": account.session_epoch}

    def flow_account() -> Account:
        flow = session.get("flow")
        if not flow:
            raise firstlogin.LoginRefused("Start with your user name and temporary password.")
        return firstlogin.current(store(), flow["username"], flow["epoch"], clock())

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return render_template(
            "message.html",
            title="The form expired",
            message="The page was open too long or was not sent by this site. Reload it and try again.",
        ), 400

    @app.get("/")
    def home() -> ResponseReturnValue:
        return redirect(url_for("me") if signed_in() else url_for("login"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        error = None
        if request.method == "POST":
            try:
                sign_in(
                    firstlogin.login(
                        store(), request.form.get("username", ""), request.form.get("password", ""), clock()
                    )
                )
                return redirect(url_for("me"))
            except firstlogin.LoginRefused as refused:
                error = str(refused)
        return render_template("login.html", error=error), 401 if error else 200

    @app.route("/first-login", methods=["GET", "POST"])
    def first_login() -> ResponseReturnValue:
        error = None
        if request.method == "POST":
            try:
                account = firstlogin.start(
                    store(), request.form.get("username", ""), request.form.get("temporary_password", ""), clock()
                )
                session.clear()
                session["flow"] = {"username": account.username, "epoch": account.session_epoch, "step": "identity"}
                return redirect(url_for("identity"))
            except firstlogin.LoginRefused as refused:
                error = str(refused)
        return render_template("first_login.html", error=error), 401 if error else 200

    @app.route("/first-login/identity", methods=["GET", "POST"])
    def identity() -> ResponseReturnValue:
        try:
            account = flow_account()
        except firstlogin.LoginRefused as refused:
            session.pop("flow", None)
            return render_template("first_login.html", error=str(refused)), 401
        error = None
        if request.method == "POST":
            try:
                firstlogin.confirm_identity(store(), account, request.form.get("ssin", ""), clock())
                session["flow"] = {**session["flow"], "step": "password"}
                return redirect(url_for("new_password"))
            except firstlogin.LockedOut as locked:
                session.pop("flow", None)
                return render_template("first_login.html", error=str(locked)), 401
            except firstlogin.LoginRefused as refused:
                error = str(refused)
        return render_template("identity.html", account=account, error=error), 401 if error else 200

    @app.route("/first-login/password", methods=["GET", "POST"])
    def new_password() -> ResponseReturnValue:
        try:
            account = flow_account()
            if session["flow"].get("step") != "password":
                return redirect(url_for("identity"))
        except firstlogin.LoginRefused as refused:
            session.pop("flow", None)
            return render_template("first_login.html", error=str(refused)), 401
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
                flash("Your account is active. From now on, log in with your user name and your new password.")
                return redirect(url_for("me"))
            except firstlogin.PasswordRejected as rejected:
                problems = rejected.problems
            except firstlogin.LoginRefused as refused:
                session.pop("flow", None)
                return render_template("first_login.html", error=str(refused)), 401
        return render_template("password.html", account=account, problems=problems), 400 if problems else 200

    @app.get("/me")
    def me() -> ResponseReturnValue:
        account = signed_in()
        if account is None:
            return redirect(url_for("login"))
        return render_template(
            "me.html", view=overview(store(), account, clock()), number=format_enterprise_number(account.enterprise)
        )

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        session.clear()
        return redirect(url_for("login"))

    return app
