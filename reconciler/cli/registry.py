"""export, state, lock and audit: looking after the registry itself."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.catalogue import catalogue_option
from reconciler.cli.common import (
    EXIT_CHANGES,
    chain_broken,
    desired_or_exit,
    enterprise_or_exit,
    fail,
    open_or_exit,
    paths_argument,
    plural,
    say,
    state_option,
    trail_problems_said,
)
from reconciler.declare import identifiers
from reconciler.declare.characters import escape
from reconciler.plan.drift import drift_of
from reconciler.records import clock
from reconciler.render.codeowners import PLATFORMS, actor_of, codeowners
from reconciler.render.drift import drift_document, render_drift
from reconciler.render.export import export as export_state
from reconciler.render.neutral import json_lines
from reconciler.store import audit as audit_trail
from reconciler.store.audit import verify, verify_heads
from reconciler.store.copy import copy_registry
from reconciler.store.port import StoreError


def register(cli: click.Group) -> None:
    @cli.command()
    @state_option
    @click.option(
        "--enterprise",
        "only",
        metavar="NUMBER",
        multiple=True,
        help="Look at this enterprise only (repeatable); by default every stored enterprise.",
    )
    @click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="text for people, json for programs (schemas/drift.schema.json).",
    )
    @click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when an enterprise drifted, 0 when none did.")
    def drift(state_url: str, only: tuple[str, ...], output_format: str, detailed_exitcode: bool) -> None:
        """List the records written to the store outside reconciler since each enterprise's last apply.

        Every write moves an enterprise's version and only an apply records the version it
        left, so the store knows which enterprises drifted; the audit trail, which holds what
        every apply wrote, says which records differ and how.
        """
        selected = {enterprise_or_exit(number) for number in only}
        store = open_or_exit(state_url)
        try:
            listed = [item for item in store.listed() if not selected or item.number in selected]
            missing = selected - {item.number for item in listed}
            if missing:
                fail(f"not in the store: {', '.join(sorted(missing))}")
            found = {}
            for item in listed:
                if item.drifted:
                    stored = store.read([item.number])[item.number]
                    found[item.number] = drift_of(store, stored)
        finally:
            store.close()
        say(drift_document(found) if output_format == "json" else render_drift(found), nl=output_format == "json")
        if detailed_exitcode and any(found.values()):
            raise SystemExit(EXIT_CHANGES)

    @cli.command()
    @catalogue_option
    @state_option
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Folder to write one YAML file per enterprise into.",
    )
    @click.option(
        "--schema-url",
        metavar="URL",
        help="Name this URL in each file's schema line instead of writing enterprise.schema.json beside them.",
    )
    def export(state_url: str, out: Path, schema_url: str | None) -> None:
        """Write the stored state as YAML files that validate and plan to no changes.

        Each file starts with a schema line that resolves from where the files are: by default
        the schema (of the catalogue in effect) is written beside them as enterprise.schema.json.
        """
        store = open_or_exit(state_url)
        try:
            written = export_state(store.read(), out, schema_url)
        except OSError as error:
            fail(f"cannot write {out}: {error.strerror}")
        finally:
            store.close()
        click.echo(f"Exported {plural(len(written), 'enterprise')} to {out}.")

    @cli.command("codeowners")
    @paths_argument
    @click.option(
        "--platform",
        type=click.Choice(PLATFORMS),
        default="github",
        show_default=True,
        help="Whose handles to use: github or gitlab (the file format is the same).",
    )
    @click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="Repository root the paths in CODEOWNERS are relative to.",
    )
    def codeowners_command(paths: tuple[Path, ...], platform: str, root: Path) -> None:
        """Print a CODEOWNERS file: each declared file owned by the people allowed to approve it."""
        desired = desired_or_exit(paths)
        click.echo(codeowners(desired.declarations.values(), platform, root), nl=False)

    @cli.command("actor")
    @click.argument("handle", metavar="PLATFORM:HANDLE")
    @paths_argument
    def actor_command(handle: str, paths: tuple[Path, ...]) -> None:
        """Print the SSIN of the one declared person with this GitHub or GitLab handle (github:octocat).

        For CI: map a pull request's author to the --actor of `plan`.  Give it the files of the
        reviewed branch (the pull request's base), never the pull request's own files: an author
        could otherwise declare their handle on someone else.  Exits 1 when nobody, or more
        than one person, has the handle.
        """
        platform, _, name = handle.partition(":")
        if platform not in PLATFORMS or not name:
            fail(f"expected github:HANDLE or gitlab:HANDLE, not {handle[:80]!r}")
        desired = desired_or_exit(paths)
        found = actor_of(desired.declarations.values(), platform, name)
        if len(found) != 1:
            who = "no declared person has" if not found else f"{len(found)} declared people have"
            fail(f"{who} the {platform} handle {name[:80]!r}; the pull request's author cannot act as anybody")
        click.echo(found[0])

    @cli.group()
    def state() -> None:
        """Manage stores as a whole."""

    @state.command("migrate")
    @click.option("--from", "source_url", required=True, help="Store to copy from (any state URL).")
    @click.option("--to", "target_url", required=True, help="Empty store to copy into (any state URL).")
    def state_migrate(source_url: str, target_url: str) -> None:
        """Copy a whole registry to another store, accounts, versions and audit trail included, and verify it."""
        source = open_or_exit(source_url)
        try:
            target = open_or_exit(target_url)
            try:
                count = copy_registry(source, target)
            except StoreError as error:
                fail(str(error))
            finally:
                target.close()
        finally:
            source.close()
        click.echo(
            f"Copied {plural(count, 'enterprise')} from {source.url} to {target.url}; both stores compared equal."
        )

    @cli.group()
    def lock() -> None:
        """See and release the per-enterprise apply locks."""

    @lock.command("list")
    @state_option
    def lock_list(state_url: str) -> None:
        """Show who holds, or last held and left behind, each enterprise's lock."""
        store = open_or_exit(state_url)
        try:
            holders = store.lock_holders()
        finally:
            store.close()
        if not holders:
            click.echo("No locks are held.")
        for holder in holders:
            status = "held" if holder.held else "stale (holder gone; the next apply takes it over)"
            click.echo(
                f"{identifiers.format_enterprise_number(holder.enterprise)}  {holder.holder}  "
                f"run {holder.run}  since {holder.since}  {status}"
            )

    @lock.command("release")
    @click.argument("enterprise")
    @state_option
    @click.option("--force", is_flag=True, help="Also end the session or process that still holds the lock.")
    def lock_release(enterprise: str, state_url: str, force: bool) -> None:
        """Release an enterprise's lock left behind by an apply that is gone."""
        number = enterprise_or_exit(enterprise)
        store = open_or_exit(state_url)
        try:
            released = store.release_lock(number, force=force)
        except StoreError as error:
            fail(str(error))
        finally:
            store.close()
        click.echo(
            f"Released the lock of {number} (held by {released.holder})."
            if released
            else f"No lock of {number} is recorded."
        )

    @cli.group()
    def audit() -> None:
        """Read and verify the append-only audit trail of applied changes."""

    @audit.command("log")
    @click.argument("enterprise", required=False)
    @state_option
    @click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
    def audit_log(enterprise: str | None, state_url: str, output_format: str) -> None:
        """Print the history of applied changes, of one enterprise or of all."""
        number = enterprise_or_exit(enterprise) if enterprise else None
        store = open_or_exit(state_url)
        try:
            entries = store.audit_entries(number)
        finally:
            store.close()
        if output_format == "json":
            click.echo(json_lines(json.dumps([e._asdict() for e in entries], indent=2, ensure_ascii=False)))
            return
        for entry in entries:
            by = entry.actor or "unknown actor"
            extra = f"  plan {entry.plan_hash[:12]}" if entry.plan_hash else ""  # account events have no plan
            extra += f" commit {entry.commit_sha[:12]}" if entry.commit_sha else ""
            extra += f" overrides {entry.overrides}" if entry.overrides else ""
            if entry.after and not entry.plan_hash:
                extra += f"  {entry.after}"
            click.echo(
                escape(
                    f"{entry.at}  {entry.enterprise}#{entry.seq}  {entry.action:6}  {entry.address}  "
                    f"by {by}  run {entry.run}{extra}"
                )
            )
        if not entries:
            click.echo("The audit trail is empty.")

    @audit.command("seal")
    @state_option
    def audit_seal(state_url: str) -> None:
        """End every plain chain with a keyed entry (after RECONCILER_AUDIT_KEY was set on an existing store).

        Each chain is verified first; one that does not verify is not sealed.  From then on a
        chain must end in a keyed entry, so nobody without the key can rewrite it unseen.
        """
        if audit_trail.audit_key() is None:
            fail(f"set {audit_trail.KEY_ENV} (the key the apply job uses) to seal the audit trail with it")
        store = open_or_exit(state_url)
        now = clock.now()
        run = audit_trail.run_id()
        sealed = 0
        try:
            for number, (seq, head) in sorted(store.audit_heads().items()):
                if not seq or head.startswith(audit_trail.KEYED):
                    continue
                with store.transaction(now, [number], run) as transaction:
                    sealed += transaction.seal_audit(audit_trail.context(now, None, run, "", ()), number)
        except audit_trail.ChainBroken as error:
            chain_broken(error)
        except StoreError as error:
            fail(str(error))
        finally:
            store.close()
        click.echo(f"Sealed {plural(sealed, 'chain')} with a keyed entry.")

    @audit.command("verify")
    @state_option
    @click.option(
        "--head",
        "kept",
        multiple=True,
        metavar="HASH",
        help="A chain head someone kept (printed by apply, in a CI log or a PR comment): it must still be in "
        "the trail. Repeatable.",
    )
    def audit_verify(state_url: str, kept: tuple[str, ...]) -> None:
        """Recompute the hash chain of every enterprise: detects edited, deleted and cut-off entries.

        With RECONCILER_AUDIT_KEY set, keyed entries are checked with it.  Cutting entries off
        and rewriting the recorded head passes the chain check; a head kept from before does not.
        """
        store = open_or_exit(state_url)
        try:
            entries, heads = store.audit_entries(), store.audit_heads()
        finally:
            store.close()
        problems = verify(entries, heads) + verify_heads(entries, kept)
        trail_problems_said(problems)
        if problems:
            fail(f"the audit trail is not intact ({plural(len(problems), 'problem')})")
        click.echo(
            f"The audit trail is intact: {plural(len(entries), 'entry').replace('entrys', 'entries')} "
            f"in {plural(len(heads), 'enterprise')}."
            + (f" {plural(len(kept), 'kept head')} found in it." if kept else "")
        )
