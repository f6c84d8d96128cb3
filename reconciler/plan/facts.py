"""Per-file facts: what one declared file gave, kept in the store so a later plan need not read it.

A pull request in an enterprise of a hundred files changes one or two.  The store already
holds, as records, everything the enterprise's files declared at its last apply; what it does
not know is *which file* declared what, nor the details the hierarchy rules compare across
files.  The facts of a file say both, and are small beside the file:

- ``skeleton``: the file's document with its users left out (its header, main and co-main
  access managers, qualities with their settings, access managers, co-access managers,
  senders and routing rules, profiles).  These are few, and every rule about them is run again
  on every file's skeleton, exactly as on the files themselves;
- ``users``: per quality, each user's SSIN (compact) and what the rules that span files
  compare or that the plan needs of them: language, end date, profiles, GitHub and GitLab
  handles.  Their services and names are in the store's records.

Facts are written with the sync records at apply (``Store.record_sync``), under the SHA-256 of
the file they describe, and read by ``plan.patch``; a file whose facts are missing, of another
format or of another SHA-256 is simply read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import NamedTuple

import orjson
from pydantic import ValidationError

from reconciler.declare.declared import Block, DeclaredEnterprise, Role, Site
from reconciler.declare.model import EnterpriseDocument, User
from reconciler.declare.source import SourceDocument

FORMAT = 1  # the shape below; facts of another format are ignored (the file is read again)


class UserFact(NamedTuple):
    """One user of a file, as the rules across files and the plan need them."""

    quality: str
    ssin: str  # compact
    language: str | None
    until: str | None
    profiles: list[str]
    github: str | None
    gitlab: str | None


# Users are kept as columns, one list per field: an enterprise's files hold a hundred thousand
# users, and most of what is asked of them (which quality and SSIN pairs, the earliest end,
# the profiles listed) is answered a column at a time.
COLUMNS = UserFact._fields
_TEXT: set[type] = {str}
_OPTIONAL: set[type] = {str, type(None)}
_TYPES: dict[str, set[type]] = {
    "quality": _TEXT,
    "ssin": _TEXT,
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

    def of(self, ssins: set[str]) -> list[UserFact]:
        """The users whose SSIN is among ``ssins``."""
        rows = zip(*(self.columns[name] for name in COLUMNS), strict=True)
        return [UserFact._make(row) for row in rows if row[1] in ssins]

    @classmethod
    def joined(cls, parts: list[Users]) -> Users:
        return cls({name: [value for part in parts for value in part.columns[name]] for name in COLUMNS})


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
    users: dict[str, dict[str, list]] = {}
    for appointment in declaration.appointments():
        if appointment.role is not Role.USER:
            continue
        person = appointment.person
        assert isinstance(person, User) and appointment.quality is not None
        path = appointment.site.document.path
        if paths is not None and path not in paths:
            continue
        columns = users.get(path)
        if columns is None:
            columns = users[path] = {name: [] for name in COLUMNS}
        row = (appointment.quality, appointment.ssin, person.language, person.until, person.profiles)
        for name, value in zip(COLUMNS, (*row, person.github, person.gitlab), strict=True):
            columns[name].append(value)
    found = {}
    for file in declaration.files:
        path = file.site.document.path
        if paths is not None and path not in paths:
            continue
        empty: dict[str, list] = {name: [] for name in COLUMNS}
        found[path] = orjson.dumps(
            {"format": FORMAT, "skeleton": skeleton_of(file.model), "users": users.get(path, empty)}
        ).decode()
    return found


def skeleton_of(document: EnterpriseDocument) -> dict:
    """The document as data, every quality's users left out."""
    data = document.model_dump(mode="json", exclude_unset=True)
    for quality in data.get("qualities", []):
        quality.pop("users", None)
    return data


def read_facts(text: str) -> FileFacts | None:
    """Facts as stored, or None when they are not of this format or not as written."""
    try:
        data = orjson.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        skeleton = EnterpriseDocument.model_validate(data["skeleton"])
        columns = data["users"]
        if not isinstance(columns, dict) or set(columns) != set(COLUMNS):
            return None
        if not all(type(column) is list for column in columns.values()):
            return None
        if len({len(column) for column in columns.values()}) != 1 or not _typed(columns):
            return None
    except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError):
        return None
    return FileFacts(skeleton, Users(columns))


def block_path(block: Block[EnterpriseDocument]) -> str:
    return block.site.document.path


def sorted_blocks(blocks: list[Block[EnterpriseDocument]]) -> list[Block[EnterpriseDocument]]:
    """Files in the order a full read takes them (sorted as paths sort)."""
    return sorted(blocks, key=lambda block: Path(block_path(block)).parts)
