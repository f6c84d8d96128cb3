"""An enterprise of which only the changed files are read: is it certainly valid?

``plan.patch`` (against the store) and ``validate`` (against its cache) both read only the
files of an enterprise that changed, and take the others from their kept facts
(``plan.facts``): each unchanged file's skeleton (the file without its users) and its users in
brief.  Every hierarchy rule then runs on the changed files whole and the skeletons; what the
rules compare across files with the users left out is compared here with the users' facts:

- H006: a user read now is not also a user of the same quality in a file left out;
- H007: the qualities of the users left out are still activated;
- H017: a person read now who is also a user left out has the same name, e-mail address and
  handles, and all of a person's roles together declare at most one language;
- H026, H027: the profiles the users left out list are declared, and bring only services
  their quality offers;
- W001: no grant left out has ended (nor ends within the window the caller names: a plan
  lists those);
- W002: a profile that looks unused is listed by a user left out.

The other rules see everything they read: users are checked against the catalogue file by
file (H008, H014, H023), and the rest are about skeletons.  The users left out were found
valid, with the skeletons, when their facts were kept; a file whose content changed is read.

``certainly_valid`` answers False whenever anything is found, or cannot be decided: the
caller then reads the enterprise whole, so every message keeps its ``file:line:column``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise, Role, group_documents
from reconciler.declare.model import DeclaredUser
from reconciler.declare.reading import load_files
from reconciler.declare.rules import check_enterprise, warnings_of
from reconciler.declare.source import SourceDocument
from reconciler.plan.facts import FileFacts, UserFact, Users

UNUSED_PROFILE = "W002"


@dataclass(frozen=True)
class Partial:
    """An enterprise's changed files read whole, and its other files as their facts."""

    declaration: DeclaredEnterprise  # the changed files whole, the others as skeletons
    documents: list[SourceDocument]  # the changed files, as read now, in the order given
    unread: Users  # the users of the files left out
    changed: frozenset[str]  # the paths of the files read now, as given


def read_partially(
    number: str, changed: list[Path], unchanged: Mapping[str, tuple[str, FileFacts]], order: Sequence[str]
) -> Partial | None:
    """Read the ``changed`` files of enterprise ``number``; ``unchanged``: the others by the path to
    show them with, with their SHA-256 and kept facts; ``order``: every file's path, in the order a
    full read takes them (a person's first role is where messages about them point).  None when
    a changed file does not read as a valid part of that enterprise (a full read says what is wrong)."""
    documents, problems = load_files(changed, fast=True)
    if problems or len(documents) != len(changed):
        return None
    declarations, problems = group_documents(documents)
    if problems or set(declarations) - {number}:
        return None
    fresh = declarations[number].files if declarations else []
    if len(fresh) != len(changed):
        return None  # a file that is not a declaration (a catalogue file named reconciler.yaml)
    skeletons = [facts.block(path, sha) for path, (sha, facts) in unchanged.items()]
    place = {path: index for index, path in enumerate(order)}
    blocks = skeletons + fresh
    if any(block.site.document.path not in place for block in blocks):
        return None
    declaration = DeclaredEnterprise(number, sorted(blocks, key=lambda block: place[block.site.document.path]))
    unread = Users.joined([facts.users for _, facts in unchanged.values()])
    return Partial(declaration, documents, unread, frozenset(str(path) for path in changed))


def certainly_valid(partial: Partial, catalogue: Catalogue, horizon: str) -> bool:
    """Whether the enterprise read whole would have no problem and no warning, and no grant left out
    ends by ``horizon`` (YYYY-MM-DD; today for ``validate``, the end of the expiry window for plans)."""
    declaration, unread = partial.declaration, partial.unread
    if not declaration.files or declaration.offboarding:
        return False
    earliest = unread.earliest_end()
    if earliest is not None and earliest <= horizon:
        return False
    if check_enterprise(declaration, catalogue):
        return False
    if not _warnings_explained(declaration, catalogue, unread):
        return False
    return _agrees(partial, catalogue)


def meeting(partial: Partial, also: frozenset[str] = frozenset()) -> dict[str, list[UserFact]]:
    """The users left out who share an SSIN with someone read now (or in ``also``), by SSIN."""
    wanted = {a.ssin for a in partial.declaration.appointments()} | set(also)
    found: dict[str, list[UserFact]] = {}
    for user in partial.unread.of(wanted):
        found.setdefault(user.ssin, []).append(user)
    return found


def _warnings_explained(declaration: DeclaredEnterprise, catalogue: Catalogue, unread: Users) -> bool:
    """Whether the declaration warns of nothing a full read would: a profile may look unused (W002)
    only because the users who list it were left out."""
    found = warnings_of(declaration, catalogue)
    if any(warning.rule != UNUSED_PROFILE for warning in found):
        return False
    listed = unread.profiles() | {
        name
        for appointment in declaration.appointments()
        if isinstance(appointment.person, DeclaredUser)
        for name in appointment.person.profiles
    }
    return set(declaration.profiles()) <= listed


def _agrees(partial: Partial, catalogue: Catalogue) -> bool:
    """The rules that span files hold between what was read and the users left out."""
    declaration, unread = partial.declaration, partial.unread
    read = {(a.quality, a.ssin) for a in declaration.appointments() if a.role is Role.USER}
    if not read.isdisjoint(zip(unread.columns["quality"], unread.columns["ssin"], strict=True)):
        return False  # H006: a user declared both in a file read and in one left out
    by_ssin = meeting(partial)
    languages: dict[str, set[str]] = {}
    for appointment in declaration.appointments():
        others = by_ssin.get(appointment.ssin)
        if not others:
            continue
        mine = appointment.person
        if mine.language is not None:
            languages.setdefault(appointment.ssin, set()).add(mine.language)
        if appointment.site.document.path not in partial.changed:
            continue  # an unchanged file: it agreed with the users left out when their facts were kept
        identity = (mine.name, mine.email, mine.github, mine.gitlab)
        if any(identity != (u.name, u.email, u.github, u.gitlab) for u in others):
            return False  # H017: one person, one identity
    for ssin, others in by_ssin.items():  # H017: one language per person
        if len(languages.get(ssin, set()) | {u.language for u in others if u.language is not None}) > 1:
            return False
    qualities = declaration.qualities()
    for code in unread.qualities():  # H007: users only in activated qualities
        blocks = qualities.get(code)
        if not blocks or any(block.model.activated is False for block in blocks):
            return False
    bundles = declaration.profile_services()
    for code, name in unread.listed_profiles():  # H026, H027: declared profiles, offered services
        offered = catalogue.qualities[code].services if code in catalogue.qualities else frozenset()
        if name not in bundles or any(service not in offered for service in bundles[name]):
            return False
    return True
