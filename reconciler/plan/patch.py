"""Plan one enterprise from only the files a pull request changed.

The store holds, as records, what the enterprise's files declared at its last apply, and,
per file, what that file gave (``plan.facts``).  When nothing else wrote to the enterprise
since (its version is the one that apply left), the tool and the catalogue are the same, and
none of its grants ends soon, the unchanged files need not be read:

1. The changed files are read whole, the others taken from their facts, and the enterprise
   is checked as ``plan.partial`` does: it must be certainly valid.
2. Only the records the changed files declare or declared (their users and people, and every
   record that is not a user or a person: a few per quality) are read from the store and
   compared.  Every other record is declared by an unchanged file exactly as last applied, so
   it is the same on both sides and has no change.  The profiles the users left out list must
   be as applied, since they make those users' services.

Anything this cannot decide with certainty returns None, and the enterprise is read and
planned whole, as before: so every message keeps its ``file:line:column`` and the plan is the
one a full read gives (``tests/test_patch_property.py`` checks that on random edits, on both
stores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise, Site
from reconciler.plan.canonical import declared_state
from reconciler.plan.facts import FileFacts, UserFact, Users, facts_of, read_facts
from reconciler.plan.gates import Policy
from reconciler.plan.partial import Partial, certainly_valid, meeting, read_partially
from reconciler.plan.plan import PlanPart, plan_enterprise
from reconciler.records.state import Address, EnterpriseState, Fields, Kind, StoredEnterprise
from reconciler.store.port import Store


@dataclass(frozen=True)
class Patched:
    """One enterprise planned from its changed files."""

    part: PlanPart
    declaration: DeclaredEnterprise  # the changed files whole, the others as skeletons
    origins: Mapping[Address, Site]
    stored: StoredEnterprise  # the slice read: what authority is checked against
    files: dict[str, str]  # real path -> SHA-256 of every file of the enterprise


def patch_enterprise(
    number: str,
    unchanged: Mapping[str, str],
    old: Mapping[str, str],
    changed: list[Path],
    named: Mapping[str, str],
    store: Store,
    policy: Policy,
    catalogue: Catalogue,
    today: date,
    keep_facts: bool,
    real: Mapping[Path, str],
    order: Sequence[str],
) -> Patched | None:
    """The plan of enterprise ``number`` from its ``changed`` files (read now) and the kept facts of its
    ``unchanged`` ones (real path -> SHA-256), ``old`` being what its other files were at the last apply;
    ``order``: the paths of its files as given, in the order a full read takes them.  None when only
    a full read can say (see the module's docstring)."""
    found_facts = _kept_facts(store, {**unchanged, **old})
    if found_facts is None:
        return None
    kept, texts = found_facts
    shown = {str(named.get(path, path)): (sha, kept[path]) for path, sha in unchanged.items()}
    partial = read_partially(number, changed, shown, order)
    if partial is None:
        return None
    horizon = (today + timedelta(days=policy.expiry_window)).isoformat()
    before = DeclaredEnterprise(number, [kept[path].block(path, sha) for path, sha in old.items()])
    if before.offboarding or not certainly_valid(partial, catalogue, horizon):
        return None
    declaration = partial.declaration
    desired, origins = declared_state(declaration, today)
    touched_users = {(a.quality, a.key) for a in desired.records if a.kind is Kind.USER}
    replaced = Users.joined([kept[path].users for path in old])
    touched_users |= replaced.pairs()
    touched_people = {a.key for a in desired.records if a.kind is Kind.PERSON}
    touched_people |= set(replaced.columns["ssin"])
    touched_people |= {a.ssin for a in before.appointments()}
    by_ssin = meeting(partial, frozenset(touched_people))
    # The other roles of the people read now: who may change a person depends on all of them
    # (the access manager of any of their qualities), so they are read too, and stay as they are.
    beside = {(user.quality, user.ssin) for users in by_ssin.values() for user in users}
    found = store.read_slice(number, touched_users | beside, touched_people)
    if found is None:
        return None
    stored, held = found
    if stored.drifted or not _profiles_as_applied(partial, stored.state.records):
        return None
    users_read = sum(1 for address in stored.state.records if address.kind is Kind.USER)
    if held - users_read + len(beside) != len(partial.unread):
        return None  # the kept facts do not tell the users the store holds: never take them on their word
    records = _desired_slice(number, desired.records, stored.state.records, touched_people, by_ssin, beside)
    if records is None:
        return None
    files = {**unchanged, **{real[path]: d.sha256 for path, d in zip(changed, partial.documents, strict=True)}}
    unread_users = held - users_read
    current = StoredEnterprise(stored.state, stored.version, stored.drifted, unread_users)
    expiry = partial.unread.earliest_end()
    part = plan_enterprise(number, EnterpriseState(number, records), current, policy, files, unread_expiry=expiry)
    if keep_facts:
        fresh_facts = facts_of(declaration, {str(path) for path in changed})
        facts = {real[Path(path)]: text for path, text in fresh_facts.items()}
        facts |= {path: texts[path] for path in unchanged}
        part = replace(part, facts=tuple(sorted(facts.items())))
    return Patched(part, declaration, origins, current, files)


def _kept_facts(store: Store, files: Mapping[str, str]) -> tuple[dict[str, FileFacts], dict[str, str]] | None:
    """The kept facts of every file given (real path -> SHA-256 it had), read and as text; None if
    any is missing, of another file content or not as written."""
    found = store.file_facts(files)
    kept, texts = {}, {}
    for path, sha in files.items():
        stored_sha, text = found.get(path, ("", None))
        facts = read_facts(text) if text is not None and stored_sha == sha else None
        if facts is None or text is None:
            return None
        kept[path], texts[path] = facts, text
    return kept, texts


def _profiles_as_applied(partial: Partial, stored: Mapping[Address, Fields]) -> bool:
    """The profiles the users left out list bring the services they brought at the last apply: those
    users' services in effect, which the store holds, are then still theirs."""
    bundles = partial.declaration.profile_services()
    number = partial.declaration.number
    for name in partial.unread.profiles():
        kept = stored.get(Address(number, Kind.PROFILE, key=name))
        if name not in bundles or kept is None or tuple(sorted(set(bundles[name]))) != kept[0][1]:
            return False
    return True


def _desired_slice(
    number: str,
    declared: Mapping[Address, Fields],
    stored: Mapping[Address, Fields],
    people: set[str],
    by_ssin: Mapping[str, list[UserFact]],
    beside: set[tuple[str, str]],
) -> dict[Address, Fields] | None:
    """The desired records over the slice read.

    Every record but people is the declaration's as read; users left out are in the slice only
    when read ``beside`` a person read now, and then as they are (no user is declared both in a
    file read and in one left out).  A person holds the
    one language any of their roles declares, the users left out included; a person whom only
    users left out still declare keeps their stored name and e-mail (rule H017 made every role
    of theirs agree with them).
    """
    records = {a: f for a, f in declared.items() if a.kind is not Kind.PERSON}
    for quality, ssin in beside:  # users left out, read beside people read now: as they are
        address = Address(number, Kind.USER, quality, ssin)
        if address not in stored:
            return None
        records[address] = stored[address]
    for ssin in people:
        address = Address(number, Kind.PERSON, key=ssin)
        languages = {user.language for user in by_ssin.get(ssin, ()) if user.language is not None}
        language = next(iter(languages), None)
        if address in declared:
            name, email, own = (value for _, value in declared[address])
            records[address] = (("name", name), ("email", email), ("language", own or language))
        elif ssin in by_ssin:
            held = stored.get(address)
            if held is None:
                return None
            name, email, _ = (value for _, value in held)
            records[address] = (("name", name), ("email", email), ("language", language))
    return records
