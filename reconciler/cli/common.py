"""What every command shares: exit codes, options, and turning failures into messages.

Exit codes (stable; scripts rely on them):
0 success and no changes, 1 error, 2 success with changes (``--detailed-exitcode``),
3 stale plan, 4 invalid or altered plan file, 5 lock timeout, 6 refused by a safety gate.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from reconciler.declare import identifiers
from reconciler.declare.diagnostics import Diagnostic
from reconciler.plan.desired import Desired, load_desired
from reconciler.store.backends import open_store
from reconciler.store.port import DEFAULT_LOCK_TIMEOUT, DEFAULT_URL, Store, StoreError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_STALE, EXIT_PLAN_FILE, EXIT_LOCK, EXIT_REFUSED = range(7)
EXIT_CODES = {
    EXIT_OK: "success, and no changes",
    EXIT_ERROR: "error: invalid files, bad arguments, authority violations, store problems, apply cancelled",
    EXIT_CHANGES: "success with changes (only with --detailed-exitcode)",
    EXIT_STALE: "stale plan: the store changed since the plan was made",
    EXIT_PLAN_FILE: "the plan file is not a plan or was altered (checksum mismatch)",
    EXIT_LOCK: "timed out waiting for another apply's lock",
    EXIT_REFUSED: "refused by a safety gate that no flag lifted",
}

state_option = click.option(
    "--state",
    "state_url",
    envvar="RECONCILER_STATE",
    default=DEFAULT_URL,
    show_default=True,
    help="Where the stored state lives: sqlite:///relative/path, sqlite:////absolute/path or "
    "postgresql://user@host:port/database[?schema=NAME]. Also read from RECONCILER_STATE.",
)
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    help="Seconds to wait for another apply to the same enterprise before giving up.",
)
actor_option = click.option(
    "--actor",
    metavar="SSIN",
    help="Check every change against what this person may do according to the stored state "
    "('legal-representative' for the enterprise's legal representative).",
)


def delivery_options(command):
    """--delivery and --login-url: how access codes reach people, and where they activate."""
    command = click.option(
        "--login-url",
        metavar="URL",
        envvar="RECONCILER_LOGIN_URL",
        help="Address of the first-login page, printed in the letters (default http://127.0.0.1:8080/first-login). "
        "Also read from RECONCILER_LOGIN_URL.",
    )(command)
    return click.option(
        "--delivery",
        "delivery_url",
        metavar="URL",
        envvar="RECONCILER_DELIVERY",
        help="Where access codes go: letters:PATH (default letters:.reconciler/letters) or "
        "smtp://[user@]host[:port]?from=ADDRESS[&starttls=yes]. Also read from RECONCILER_DELIVERY.",
    )(command)


paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))


def enterprise_or_exit(text: str) -> str:
    try:
        return identifiers.enterprise_number(text)
    except identifiers.InvalidIdentifier as error:
        fail(str(error))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def use_color(stream=None) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def is_terminal() -> bool:
    """Whether a person can answer a prompt (a separate function so tests can say yes)."""
    return sys.stdin.isatty()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    prefix = click.style("error:", fg="red", bold=True) if use_color(sys.stderr) else "error:"
    click.echo(f"{prefix} {message}", err=True)
    raise SystemExit(code)


def report(problems: list[Diagnostic]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{plural(len(problems), 'problem')} found.", err=True)


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
