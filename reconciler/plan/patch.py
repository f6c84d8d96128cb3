"""Plan one enterprise from only the files a pull request changed.

The store holds, as records, what the enterprise's files declared at its last apply, and,
per file, what that file gave (``plan.facts``).  When nothing else wrote to the enterprise
since (its version is the one that apply left), the tool and the catalogue are the same, and
none of its grants ends soon, the unchanged files need not be read:

1. The changed files are read whole; every other file is its kept skeleton (the file without
   its users).  Every hierarchy rule runs on that declaration.  What the rules would compare
   across files with the users left out is checked against the kept user facts: the same user
   twice in a quality (H006), users in a quality no longer activated (H007), one person with
   two identities or two languages (H017), a profile that unchanged users list and that was
   changed or removed (H025-H027), unused profiles (W002).
2. Only the records the changed files declare or declared (their users and people, and every
   record that is not a user or a person: a few per quality) are read from the store and
   compared.  Every other record is declared by an unchanged file exactly as last applied, so
   it is the same on both sides and has no change.

Anything this cannot decide with certainty (a rule finds a problem, a warning, a user
declared in a changed file and an unchanged one, facts missing or of another format,
off-boarding) returns None, and the enterprise is read and planned whole, as before: so every
message keeps its ``file:line:column`` and the plan is the one a full read gives
(``tests/test_patch_property.py`` checks that on random edits, on both stores).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise, Role, Site, group_documents
from reconciler.declare.model import User
from reconciler.declare.reading import load_files
from reconciler.declare.rules import check_enterprise, warnings_of
from reconciler.plan.canonical import declared_state
from reconciler.plan.facts import FileFacts, UserFact, Users, facts_of, read_facts, sorted_blocks
from reconciler.plan.gates import Policy
from reconciler.plan.plan import PlanPart, plan_enterprise
from reconciler.records.state import Address, EnterpriseState, Fields, Kind, StoredEnterprise
from reconciler.store.port import Store

UNUSED_PROFILE = "W002"


@dataclass(frozen=True)
class Patched:
    """One enterprise planned from its changed files."""

    part: PlanPart
    declaration: DeclaredEnterprise  # the changed files whole, the others as skeletons
    origins: dict[Address, Site]
    stored: StoredEnterprise  # the slice read: what authority is checked against
    files: dict[str, str]  # real path -> SHA-256 of every file of the enterprise
    read: int  # files read now


def patch_enterprise(
    number: str,
    unchanged: Mapping[str, str],
    old: Mapping[str, str],
    changed: list[Path],
    named: Mapping[str, Path],
    store: Store,
    policy: Policy,
    catalogue: Catalogue,
    today: date,
    keep_facts: bool,
    real: Mapping[Path, str],
) -> Patched | None:
    """The plan of enterprise ``number`` from its ``changed`` files (read now) and the kept facts of its
    ``unchanged`` ones (real path -> SHA-256), ``old`` being what its other files were at the last apply;
    None when only a full read can say (see the module's docstring)."""
    found_facts = _kept_facts(store, {**unchanged, **old})
    if found_facts is None:
        return None
    kept, texts = found_facts
    documents, problems = load_files(changed, fast=True)
    if problems:
        return None
    declarations, problems = group_documents(documents)
    if problems or set(declarations) - {number} or len(documents) != len(changed):
        return None
    fresh = declarations[number].files if declarations else []
    skeletons = [kept[path].block(str(named.get(path, path)), sha) for path, sha in unchanged.items()]
    declaration = DeclaredEnterprise(number, sorted_blocks(skeletons + fresh))
    before = DeclaredEnterprise(number, [kept[path].block(path, sha) for path, sha in old.items()])
    if declaration.offboarding or before.offboarding:
        return None
    if check_enterprise(declaration, catalogue):
        return None
    unread = Users.joined([kept[path].users for path in unchanged])
    horizon = (today + timedelta(days=policy.expiry_window)).isoformat()
    earliest = unread.earliest_end()
    if earliest is not None and earliest <= horizon:
        return None  # an unchanged user's grant ends soon or has ended: the plan names it, read whole
    if not _warnings_explained(declaration, catalogue, unread):
        return None
    desired, origins = declared_state(declaration, today)
    touched_users = {(a.quality, a.key) for a in desired.records if a.kind is Kind.USER}
    replaced = Users.joined([kept[path].users for path in old])
    touched_users |= replaced.pairs()
    touched_people = {a.key for a in desired.records if a.kind is Kind.PERSON}
    touched_people |= set(replaced.columns["ssin"])
    touched_people |= {a.ssin for a in before.appointments()}
    found = store.read_slice(number, touched_users, touched_people)
    if found is None:
        return None
    stored, held = found
    if stored.drifted:
        return None
    by_ssin: dict[str, list[UserFact]] = {}
    for user in unread.of({a.ssin for a in declaration.appointments()} | touched_people):
        by_ssin.setdefault(user.ssin, []).append(user)  # only people read now meet the users left out
    if not _agrees(declaration, {str(path) for path in changed}, unread, by_ssin, stored.state.records):
        return None
    records = _desired_slice(number, desired.records, stored.state.records, touched_people, by_ssin)
    if records is None:
        return None
    files = {**unchanged, **{real[path]: document.sha256 for path, document in zip(changed, documents, strict=True)}}
    unread_users = held - sum(1 for address in stored.state.records if address.kind is Kind.USER)
    current = StoredEnterprise(stored.state, stored.version, stored.drifted, unread_users)
    part = plan_enterprise(number, EnterpriseState(number, records), current, policy, files, unread_expiry=earliest)
    if keep_facts:
        fresh_facts = facts_of(declaration, {str(path) for path in changed})
        facts = {real[Path(path)]: text for path, text in fresh_facts.items()}
        facts |= {path: texts[path] for path in unchanged}
        part = replace(part, facts=tuple(sorted(facts.items())))
    return Patched(part, declaration, origins, current, files, len(changed))


def _kept_facts(
    store: Store, files: Mapping[str, str]
) -> tuple[dict[str, FileFacts], dict[str, str]] | None:
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


def _warnings_explained(declaration: DeclaredEnterprise, catalogue: Catalogue, unread: Users) -> bool:
    """Whether the declaration warns of nothing a full read would: a profile may look unused (W002)
    only because the users who list it were left out."""
    found = warnings_of(declaration, catalogue)
    if any(warning.rule != UNUSED_PROFILE for warning in found):
        return False
    listed = unread.profiles() | {
        name
        for appointment in declaration.appointments()
        if isinstance(appointment.person, User)
        for name in appointment.person.profiles
    }
    return set(declaration.profiles()) <= listed


def _agrees(
    declaration: DeclaredEnterprise,
    changed: set[str],
    unread: Users,
    by_ssin: Mapping[str, list[UserFact]],
    stored: Mapping[Address, Fields],
) -> bool:
    """The rules that span files hold between what was read and the users left out."""
    number = declaration.number
    users = unread.pairs()
    languages: dict[str, set[str]] = {}
    for appointment in declaration.appointments():
        if appointment.role is Role.USER and (appointment.quality, appointment.ssin) in users:
            return False  # H006: a user declared both in a file read and in one left out
        if appointment.ssin not in by_ssin:
            continue
        if appointment.person.language is not None:
            languages.setdefault(appointment.ssin, set()).add(appointment.person.language)
        if appointment.site.document.path not in changed:
            continue  # an unchanged file: it agreed with the users left out at the last apply
        person = stored.get(Address(number, Kind.PERSON, key=appointment.ssin))
        if person is None:
            return False
        name, email, _ = (value for _, value in person)
        mine = appointment.person
        if (mine.name, mine.email) != (name, email):
            return False  # H017: the users left out carry the stored name and e-mail
        if any((mine.github, mine.gitlab) != (user.github, user.gitlab) for user in by_ssin[appointment.ssin]):
            return False
    for ssin, facts in by_ssin.items():  # H017: one language per person
        if len(languages.get(ssin, set()) | {user.language for user in facts if user.language is not None}) > 1:
            return False
    qualities = declaration.qualities()
    for code in unread.qualities():  # H007: users only in activated qualities
        blocks = qualities.get(code)
        if not blocks or any(block.model.activated is False for block in blocks):
            return False
    bundles = declaration.profile_services()
    for name in unread.profiles():  # H026, H027 and the services in effect: the profiles listed are as applied
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
) -> dict[Address, Fields] | None:
    """The desired records over the slice read.

    Every record but people is the declaration's as read (users left out are not in the slice on
    either side: no user is declared both in a file read and in one left out).  A person holds the
    one language any of their roles declares, the users left out included; a person whom only
    users left out still declare keeps their stored name and e-mail (rule H017 made every role
    of theirs agree with them).
    """
    records = {a: f for a, f in declared.items() if a.kind is not Kind.PERSON}
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
