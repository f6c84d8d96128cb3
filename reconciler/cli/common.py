"""What every command shares: exit codes, options, and turning failures into messages.

Exit codes (stable; scripts rely on them): see ``EXIT_CODES``.

Standard output may be closed early (``reconciler apply ... | head``): ``say`` stops writing
to it and carries on, so what a command commits or sends never depends on its reader.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from reconciler.declare import identifiers
from reconciler.declare.characters import escape
from reconciler.declare.diagnostics import Diagnostic
from reconciler.plan.desired import Desired, load_desired
from reconciler.plan.ending import DEFAULT_WINDOW
from reconciler.plan.verdicts import DEFAULT_FOLDER as DEFAULT_CACHE
from reconciler.render import neutral
from reconciler.render.problems import FORMATS as PROBLEM_FORMATS
from reconciler.render.problems import render_problems
from reconciler.store.audit import OVERRIDE, ChainBroken
from reconciler.store.backends import open_store
from reconciler.store.port import DEFAULT_LOCK_TIMEOUT, DEFAULT_URL, Store, StoreError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_STALE, EXIT_PLAN_FILE, EXIT_LOCK, EXIT_REFUSED, EXIT_AUDIT = range(8)
EXIT_CODES = {
    EXIT_OK: "success, and no changes",
    EXIT_ERROR: "error: invalid files, bad arguments, authority violations, store problems, apply cancelled",
    EXIT_CHANGES: "success with changes (only with --detailed-exitcode)",
    EXIT_STALE: "stale plan: the store changed since the plan was made",
    EXIT_PLAN_FILE: "the plan file is not a plan, was altered (checksum mismatch), or was made on another store",
    EXIT_LOCK: "timed out waiting for another apply's lock",
    EXIT_REFUSED: "refused by a safety gate that no flag lifted (plan: only with --detailed-exitcode)",
    EXIT_AUDIT: "the audit trail of an enterprise to be written (or shown by `who`) does not verify "
    "(lift with --allow-broken-audit-trail)",
}


def _state_url(context: click.Context, parameter: click.Parameter, value: str | None) -> str:
    """The store to use; in CI (``CI`` set) it must be named: never a fresh local file by accident."""
    if value:
        return value
    if os.environ.get("CI"):
        fail(
            "no store named: set RECONCILER_STATE (or --state) to the registry's URL; in CI "
            "reconciler never falls back to a new local SQLite file"
        )
    return DEFAULT_URL


state_option = click.option(
    "--state",
    "state_url",
    envvar="RECONCILER_STATE",
    callback=_state_url,
    help="Where the stored state lives: sqlite:///relative/path, sqlite:////absolute/path or "
    f"postgresql://user@host:port/database[?schema=NAME]. Also read from RECONCILER_STATE. Default {DEFAULT_URL}, "
    "except in CI (CI set), where it must be given.",
)
lock_timeout_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_LOCK_TIMEOUT,
    show_default=True,
    help="Seconds to wait for another apply to the same enterprise before giving up.",
)


def _actor(context: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """An actor given empty (an unmapped author in a CI script) is an error, never "no actor"."""
    if value is not None and not value.strip():
        fail("--actor is empty: the person acting could not be named, so nothing is planned")
    return value


actor_option = click.option(
    "--actor",
    metavar="SSIN",
    callback=_actor,
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


def cache_options(command):
    """``--cache-dir`` and ``--no-cache``, for the commands that read declared files."""
    command = click.option(
        "--no-cache", is_flag=True, help="Read and hash every file; neither read nor write the cache."
    )(command)
    return click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_CACHE,
        show_default=True,
        envvar="RECONCILER_CACHE_DIR",
        help="Where reconciler remembers each file's SHA-256 by its size and times, and (validate) the enterprises "
        "found valid, so that unchanged files are not read again (owner-only files, ignored by git). Also read "
        "from RECONCILER_CACHE_DIR.",
    )(command)


def enterprise_or_exit(text: str) -> str:
    try:
        return identifiers.enterprise_number(text)
    except identifiers.InvalidIdentifier as error:
        fail(str(error))


def _enterprises(context: click.Context, parameter: click.Parameter, values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(enterprise_or_exit(value) for value in values)


enterprise_selection_option = click.option(
    "--enterprise",
    "only",
    metavar="NUMBER",
    multiple=True,
    callback=_enterprises,
    help="Plan only this enterprise (repeatable), from the files given that declare it, taken as the whole of "
    "it; other enterprises' files are not read.",
)


expiry_window_option = click.option(
    "--expiry-window",
    "expiry_window",
    type=click.IntRange(min=0),
    default=DEFAULT_WINDOW,
    show_default=True,
    metavar="DAYS",
    help="List and mark the grants whose end date (until) falls within this many days.",
)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def use_color(stream=None) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def is_terminal() -> bool:
    """Whether a person can answer a prompt (a separate function so tests can say yes)."""
    return sys.stdin.isatty()


class _Stdout:
    closed = False  # set once a reader went away: nothing more is written to it


def say(text: str, nl: bool = True, status: bool = False) -> None:
    """Write to standard output; when its reader has gone, stop writing there and carry on.

    ``status`` lines (what was committed, what was sent, the audit heads) then go to standard
    error instead: the outcome of a command is always told somewhere.
    """
    if not _Stdout.closed:
        try:
            if sys.stdout is None:  # started with standard output closed
                raise BrokenPipeError
            click.echo(text, nl=nl)
            sys.stdout.flush()
            return
        except BrokenPipeError:
            _Stdout.closed = True
            if sys.stdout is not None:
                # Python would try to flush again at exit and complain: point stdout at nothing.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            click.echo("standard output was closed early; what follows is told here", err=True)
    if status:
        click.echo(text, err=True, nl=nl)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Say why on stderr (each line with its control characters escaped: messages may quote data), then exit."""
    prefix = click.style("error:", fg="red", bold=True) if use_color(sys.stderr) else "error:"
    click.echo(f"{prefix} " + "\n".join(escape(line) for line in message.split("\n")), err=True)
    raise SystemExit(code)


def report(problems: list[Diagnostic], output_format: str = "text") -> None:
    """Problems as text on stderr; in the machine formats (json, github, sarif) on stdout, the count on stderr."""
    if output_format in PROBLEM_FORMATS and output_format != "text":
        say(render_problems(problems, output_format), nl=False)
        click.echo(f"{plural(len(problems), 'problem')} found.", err=True)
    else:
        click.echo(render_problems(problems, "text"), err=True, nl=False)


def warn(warnings: list[Diagnostic]) -> None:
    """Warnings on stderr, compiler style, whatever the output format: they fail nothing and never
    mix into a document on stdout."""
    for warning in warnings:
        click.echo(f"{warning} (warning)", err=True)


def desired_or_exit(paths: tuple[Path, ...], output_format: str = "text") -> Desired:
    desired, problems = load_desired(paths)
    if problems:
        report(problems, output_format)
        raise SystemExit(EXIT_ERROR)
    return desired


def open_or_exit(url: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Store:
    try:
        return open_store(url, lock_timeout)
    except StoreError as error:
        fail(str(error))


def trail_problems_said(problems: list[str]) -> None:
    """What is wrong with audit trails, on standard error: the messages quote stored values (an
    enterprise number, an entry's number), which anyone who may write the store may have written,
    so they are shown as data."""
    for problem in problems:
        click.echo(neutral.text(problem), err=True)


def chain_broken(error: ChainBroken) -> NoReturn:
    """Nothing is written to a trail that does not verify: say why, and how to lift it."""
    trail_problems_said(error.problems)
    fail(
        "the audit trail above does not verify, so nothing was changed; find out why (`reconciler audit verify`), "
        f"or lift this with {OVERRIDE}, which is recorded in the trail",
        EXIT_AUDIT,
    )
