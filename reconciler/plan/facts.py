"""Per-file facts: what one declared file gave, kept in the store so a later plan need not read it.

A pull request in an enterprise of a hundred files changes one or two.  The store already
holds, as records, everything the enterprise's files declared at its last apply; what it does
not know is *which file* declared what, nor the details the hierarchy rules compare across
files.  The facts of a file say both, and are small beside the file:

- ``skeleton``: the file's document with its users left out (its header, main and co-main
  access managers, qualities with their settings, access managers, co-access managers,
  senders and routing rules, profiles).  These are few, and every rule about them is run again
  on every file's skeleton, exactly as on the files themselves;
- ``users``: each user's quality and SSIN (compact), and what the rules that span files
  compare or that the plan needs of them: name, e-mail address, language, end date, profiles,
  GitHub and GitLab handles.  Their services are in the store's records (and, being checked
  against the catalogue file by file, need not be compared across files).

Facts are written with the sync records at apply (``Store.record_sync``), under the SHA-256 of
the file they describe, and read by ``plan.patch``; ``validate`` keeps the same facts in its
own cache (``plan.verdicts.EnterpriseFacts``).  A file whose facts are missing, of another
format or of another SHA-256 is simply read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

import orjson
from pydantic import ValidationError

from reconciler.declare.declared import Appointment, Block, DeclaredEnterprise, Role, Site
from reconciler.declare.model import EnterpriseDocument
from reconciler.declare.schema import is_valid
from reconciler.declare.source import SourceDocument

FORMAT = 3  # the shape below; facts of another format are ignored (the file is read again)


class UserFact(NamedTuple):
    """One user of a file, as the rules across files and the plan need them."""

    quality: str
    ssin: str  # compact
    name: str
    email: str | None
    language: str | None
    until: str | None
    profiles: list[str]
    github: str | None
    gitlab: str | None


# Users are kept as columns, one list per field: an enterprise's files hold a hundred thousand
# users, and most of what is asked of them (which quality and SSIN pairs, the earliest end,
# the profiles listed) is answered a column at a time.  As stored, a column whose every value is
# the same is that value once (``{"same": value}``): a file's users share their quality and most
# have no language, end date, profiles or handles, which had been half of the facts' text.
COLUMNS = UserFact._fields
_TEXT: set[type] = {str}
_OPTIONAL: set[type] = {str, type(None)}
_TYPES: dict[str, set[type]] = {
    "quality": _TEXT,
    "ssin": _TEXT,
    "name": _TEXT,
    "email": _OPTIONAL,
    "language": _OPTIONAL,
    "until": _OPTIONAL,
    "profiles": {list},
    "github": _OPTIONAL,
    "gitlab": _OPTIONAL,
}


def _typed(columns: dict[str, list]) -> bool:
    """Every value of every column of the type it must have (checked a column at a time, in C)."""
    if not all(set(map(type, columns[name])) <= types for name, types in _TYPES.items()):
        return False
    return set(map(type, chain.from_iterable(columns["profiles"]))) <= _TEXT


@dataclass(frozen=True)
class Users:
    """The users of one or more files, column by column (``COLUMNS``)."""

    columns: dict[str, list]

    def __len__(self) -> int:
        return len(self.columns["ssin"])

    def pairs(self) -> set[tuple[str, str]]:
        """(quality, SSIN) of every user."""
        return set(zip(self.columns["quality"], self.columns["ssin"], strict=True))

    def qualities(self) -> set[str]:
        return set(self.columns["quality"])

    def earliest_end(self) -> str | None:
        return min((day for day in self.columns["until"] if day is not None), default=None)

    def profiles(self) -> set[str]:
        return {name for names in self.columns["profiles"] if names for name in names}

    def listed_profiles(self) -> set[tuple[str, str]]:
        """(quality, profile) of every profile a user lists."""
        pairs = zip(self.columns["quality"], self.columns["profiles"], strict=True)
        return {(quality, name) for quality, names in pairs if names for name in names}

    def of(self, ssins: set[str] | frozenset[str]) -> list[UserFact]:
        """The users whose SSIN is among ``ssins`` (found in the SSIN column: few rows are made)."""
        rows = [index for index, ssin in enumerate(self.columns["ssin"]) if ssin in ssins]
        return [UserFact._make(self.columns[name][index] for name in COLUMNS) for index in rows]

    @classmethod
    def joined(cls, parts: list[Users]) -> Users:
        return cls({name: list(chain.from_iterable(part.columns[name] for part in parts)) for name in COLUMNS})


@dataclass(frozen=True)
class FileFacts:
    """What one declared file gave: its document without users, and its users in brief."""

    skeleton: EnterpriseDocument
    users: Users

    def block(self, path: str, sha256: str) -> Block[EnterpriseDocument]:
        """The skeleton as a file of a declaration, without positions (as the fast path reads files)."""
        document = SourceDocument(path, None, {}, {}, {}, sha256=sha256, exact=False)
        return Block(self.skeleton, Site(document, ()))


def facts_of(declaration: DeclaredEnterprise, paths: set[str] | None = None) -> dict[str, str]:
    """The facts of each file of a checked declaration (or of those in ``paths``), as stored text."""
    return {path: orjson.dumps(data).decode() for path, data in facts_data(declaration, paths).items()}


def facts_data(declaration: DeclaredEnterprise, paths: set[str] | None = None) -> dict[str, dict]:
    """The facts of each file of a checked declaration (or of those in ``paths``), as data."""
    users: dict[str, list[Appointment]] = {}
    for appointment in declaration.appointments():
        if appointment.role is Role.USER and (paths is None or appointment.site.document.path in paths):
            users.setdefault(appointment.site.document.path, []).append(appointment)
    found = {}
    for file in declaration.files:
        path = file.site.document.path
        if paths is None or path in paths:
            found[path] = {
                "format": FORMAT,
                "skeleton": skeleton_of(file.model),
                "users": _compact(_columns(users.get(path, []))),
            }
    return found


def _columns(appointments: list[Appointment]) -> dict[str, list]:
    """Users as ``COLUMNS``, a column at a time (a file holds a thousand of them)."""
    people = [appointment.person for appointment in appointments]
    return {
        "quality": [appointment.quality for appointment in appointments],
        "ssin": [appointment.ssin for appointment in appointments],
        "name": [person.name for person in people],
        "email": [person.email for person in people],
        "language": [person.language for person in people],
        "until": [getattr(person, "until", None) for person in people],
        "profiles": [getattr(person, "profiles", []) for person in people],
        "github": [person.github for person in people],
        "gitlab": [person.gitlab for person in people],
    }


def _compact(columns: dict[str, list]) -> dict[str, list | dict]:
    """Columns as stored: each whose values are all the same as that value once (SSINs never are)."""
    return {
        name: {"same": values[0]} if name != "ssin" and values and values.count(values[0]) == len(values) else values
        for name, values in columns.items()
    }


def _expanded(columns: dict, count: int) -> dict[str, list] | None:
    """Stored columns (``_compact``) as lists of ``count`` values, or None when one is neither form."""
    expanded = {}
    for name, column in columns.items():
        if type(column) is list:
            expanded[name] = column
        elif type(column) is dict and set(column) == {"same"} and name != "ssin":
            same = column["same"]
            expanded[name] = [list(same) for _ in range(count)] if type(same) is list else [same] * count
        else:
            return None
    return expanded


def skeleton_of(document: EnterpriseDocument) -> dict:
    """The document as data, every quality's users left out (not even turned into data)."""
    return document.model_dump(mode="json", exclude_unset=True, exclude={"qualities": {"__all__": {"users"}}})


def read_facts(text: str) -> FileFacts | None:
    """Facts as stored, or None when they are not of this format or not as written."""
    try:
        return facts_from(orjson.loads(text))
    except orjson.JSONDecodeError:
        return None


def facts_from(data: object) -> FileFacts | None:
    """Facts as data (``facts_data``), or None when they are not of this format or not as written."""
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        if not is_valid(data["skeleton"]):  # the schema knows the catalogue: no quality the rules cannot look up
            return None
        if any("users" in quality for quality in data["skeleton"].get("qualities", ())):
            return None  # ``skeleton_of`` never writes users: these facts were not written by it
        skeleton = EnterpriseDocument.model_validate(data["skeleton"])
        stored = data["users"]
        if not isinstance(stored, dict) or set(stored) != set(COLUMNS) or type(stored["ssin"]) is not list:
            return None
        columns = _expanded(stored, len(stored["ssin"]))
        if columns is None or len({len(column) for column in columns.values()}) != 1 or not _typed(columns):
            return None
    except (ValidationError, KeyError, TypeError):
        return None
    return FileFacts(skeleton, Users(columns))
