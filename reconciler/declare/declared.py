"""Group validated documents by enterprise, keeping the source position of every block.

An enterprise may be split over several files (one per quality, one per team), and a
quality over several blocks.  The rules need to see all parts together and to point at
each part's own file and line, so parts are kept side by side here, not merged yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import ValidationError

from reconciler.declare import identifiers
from reconciler.declare.catalogue_file import is_catalogue_file
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.model import DeclaredUser, EnterpriseDocument, Person, Quality
from reconciler.declare.reading import load_file
from reconciler.declare.schema import S_BAD_VALUE, is_valid, validate_document
from reconciler.declare.source import JsonPath, SourceDocument

M = TypeVar("M")


class Site(NamedTuple):
    """A JSON path inside one source document.

    A named tuple rather than a dataclass: every declared person and user has one, and a plan of
    a million users makes a million of them.
    """

    document: SourceDocument
    path: JsonPath

    def at(self, *rest: str | int, key: bool = False) -> Position:
        return self.document.position(self.path + rest, key=key)

    def child(self, *rest: str | int) -> Site:
        return Site(self.document, self.path + rest)


@dataclass(frozen=True)
class Block(Generic[M]):
    """A model together with the place it was declared."""

    model: M
    site: Site


class Role(Enum):
    MAIN_ACCESS_MANAGER = "main access manager"
    CO_MAIN_ACCESS_MANAGER = "co-main access manager"
    ACCESS_MANAGER = "access manager"
    CO_ACCESS_MANAGER = "co-access manager"
    USER = "user"


class Appointment(NamedTuple):
    """One person in one role, as declared; ``ssin`` is compact when valid, as written otherwise.

    Made by ``appoint``, which checks the SSIN once (rule H014 words the error).  A named tuple,
    as ``Site``: one per declared person and user.
    """

    role: Role
    quality: str | None
    person: Person | DeclaredUser
    site: Site
    ssin: str
    ssin_valid: bool


# Named tuples made from their values as their constructors would make them, without the Python
# code those run: a registry makes one appointment and one site per declared person and user.
_make = tuple.__new__


def appoint(role: Role, quality: str | None, person: Person | DeclaredUser, site: Site) -> Appointment:
    try:
        return _make(Appointment, (role, quality, person, site, identifiers.ssin(person.ssin), True))
    except identifiers.InvalidIdentifier:
        return Appointment(role, quality, person, site, person.ssin.strip(), False)


def compact_ssin(text: str) -> str:
    try:
        return identifiers.ssin(text)
    except identifiers.InvalidIdentifier:
        return text.strip()


@dataclass
class DeclaredEnterprise:
    """Every part of one enterprise's declaration, in file order.

    Files are added while documents are grouped; the views below are computed once, on first
    use, because every rule reads them and enterprises hold up to tens of thousands of people.
    """

    number: str
    files: list[Block[EnterpriseDocument]] = field(default_factory=list)
    _qualities: dict[str, list[Block[Quality]]] | None = field(default=None, repr=False)
    _appointments: list[Appointment] | None = field(default=None, repr=False)
    _managers: list[Appointment] | None = field(default=None, repr=False)
    _dated: list[Appointment] | None = field(default=None, repr=False)

    def qualities(self) -> dict[str, list[Block[Quality]]]:
        """Quality blocks by code, in declaration order."""
        if self._qualities is None:
            found: dict[str, list[Block[Quality]]] = {}
            for file in self.files:
                for index, quality in enumerate(file.model.qualities):
                    found.setdefault(quality.code, []).append(Block(quality, file.site.child("qualities", index)))
            self._qualities = found
        return self._qualities

    def appointments(self) -> list[Appointment]:
        """Every person in every role: main and co-main access managers first, then by quality."""
        if self._appointments is None:
            self._appointments = list(self._find_appointments())
        return self._appointments

    def managers(self) -> list[Appointment]:
        """The appointments of every role but users': the few that rules about managers read, where
        ``appointments`` holds up to a hundred thousand users besides."""
        if self._managers is None:
            self._managers = [a for a in self.appointments() if a.role is not Role.USER]
        return self._managers

    def dated(self) -> list[Appointment]:
        """The appointments declared with an end date (``until``), in the order of ``appointments``."""
        if self._dated is None:
            self._dated = [a for a in self.appointments() if getattr(a.person, "until", None) is not None]
        return self._dated

    def _find_appointments(self) -> Iterator[Appointment]:
        for file in self.files:
            document, site = file.model, file.site
            if document.main_access_manager is not None:
                yield appoint(
                    Role.MAIN_ACCESS_MANAGER, None, document.main_access_manager, site.child("main_access_manager")
                )
            for index, person in enumerate(document.co_main_access_managers):
                yield appoint(Role.CO_MAIN_ACCESS_MANAGER, None, person, site.child("co_main_access_managers", index))
        for code, blocks in self.qualities().items():
            for block in blocks:
                yield from quality_appointments(code, block)

    @property
    def first_site(self) -> Site:
        return self.files[0].site

    def profiles(self) -> dict[str, list[Block[list[str]]]]:
        """Every declaration of each profile (rule H025 wants one), in file order."""
        found: dict[str, list[Block[list[str]]]] = {}
        for file in self.files:
            for name, services in file.model.profiles.items():
                found.setdefault(name, []).append(Block(services, file.site.child("profiles", name)))
        return found

    def profile_services(self) -> dict[str, tuple[str, ...]]:
        """Each profile's services, as first declared."""
        return {name: tuple(blocks[0].model) for name, blocks in self.profiles().items()}

    @property
    def offboarding(self) -> bool:
        """Whether a file of the enterprise declares ``offboard: true`` (rule H021 wants all of them to)."""
        return any(file.model.enterprise.offboard for file in self.files)


def quality_appointments(code: str, block: Block[Quality]) -> Iterator[Appointment]:
    quality, site = block.model, block.site
    if quality.access_manager is not None:
        yield appoint(Role.ACCESS_MANAGER, code, quality.access_manager, site.child("access_manager"))
    for index, person in enumerate(quality.co_access_managers):
        yield appoint(Role.CO_ACCESS_MANAGER, code, person, site.child("co_access_managers", index))
    document, users = site.document, (*site.path, "users")
    for index, user in enumerate(users_of(quality)):
        yield appoint(Role.USER, code, user, _make(Site, (document, (*users, index))))


def group_documents(documents: list[SourceDocument]) -> tuple[dict[str, DeclaredEnterprise], list[Diagnostic]]:
    """Validate each document against the schema and group the valid ones by enterprise.

    An enterprise with any invalid file is left out of the result: running hierarchy rules
    on a partial declaration would report phantom problems (a missing main access manager
    that is declared in the broken file).  A file holding refused characters (S006, reported
    by the loader) counts as invalid too.
    """
    problems: list[Diagnostic] = []
    enterprises: dict[str, DeclaredEnterprise] = {}
    broken: set[str] = set()
    for document in documents:
        if is_catalogue_file(document.path):  # reconciler.yaml beside the enterprise files: not one of them
            continue
        if document.exact:
            found = validate_document(document)
        elif is_valid(document.data):
            found = []  # what ``validate_document`` says of it: the fast path keeps no text to find YAML 1.1 in
        else:
            reloaded, found = load_file(Path(document.path))  # the reference loader explains
            problems.extend(found)
            if reloaded is None:
                continue
            document = reloaded
            found = validate_document(document)
        key = enterprise_key(document.data)
        model = None
        if not found:
            try:
                model = document_model(document.data)
            except ValidationError as error:
                found = [Diagnostic(document.position(tuple(e["loc"])), S_BAD_VALUE, e["msg"]) for e in error.errors()]
        problems.extend(found)
        if model is None or not document.clean:
            if key is not None:
                broken.add(key)
            continue
        assert key is not None  # a document that passed the schema names its enterprise
        enterprise = enterprises.setdefault(key, DeclaredEnterprise(key))
        if not document.exact:  # the model holds the data now; a file read again (``exactly``) comes from disk
            document = replace(document, data=None)
        enterprise.files.append(Block(model, Site(document, ())))
    return {key: value for key, value in enterprises.items() if key not in broken}, problems


def document_model(data: dict[str, Any]) -> EnterpriseDocument:
    """A document that passed the schema, as a model whose users are ``DeclaredUser``s.

    The users are taken out before pydantic validates the rest and put back as named tuples: the
    schema, which the ``User`` model generates, has checked each of them already.
    """
    qualities = data.get("qualities") or []
    if not any("users" in quality for quality in qualities):
        return EnterpriseDocument.model_validate(data)
    others = [{key: value for key, value in quality.items() if key != "users"} for quality in qualities]
    model = EnterpriseDocument.model_validate({**data, "qualities": others})
    for block, quality in zip(model.qualities, qualities, strict=True):
        if "users" in quality:
            block.__dict__["users"] = [declared_user(user) for user in quality["users"]]
    return model


def declared_user(data: dict[str, Any]) -> DeclaredUser:
    """One user's data, as the schema let it through, as a ``DeclaredUser``."""
    get = data.get
    return _make(
        DeclaredUser,
        (
            data["ssin"],
            data["name"],
            data["email"],
            get("github"),
            get("gitlab"),
            get("language"),
            get("protected"),
            get("until"),
            tuple(get("services", ())),
            tuple(get("profiles", ())),
        ),
    )


def users_of(quality: Quality) -> list[DeclaredUser]:
    """A quality block's users, as ``document_model`` keeps them (a block with none has an empty list)."""
    users: list[DeclaredUser] = quality.__dict__["users"]
    return users


def enterprise_key(data: object) -> str | None:
    """The compact enterprise number a document names, or its text as written when invalid."""
    if not isinstance(data, dict) or not isinstance(data.get("enterprise"), dict):
        return None
    number = data["enterprise"].get("number")
    if not isinstance(number, str):
        return None
    try:
        return identifiers.enterprise_number(number)
    except identifiers.InvalidIdentifier:
        return number.strip()
