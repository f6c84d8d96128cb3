"""How records map to SQL tables; shared by every SQL backend.

Each kind of record has one table whose primary key is (enterprise, [quality,] key) and
whose other columns are the record's fields.  Conversions between Python values and
column values (booleans, service lists) live here too, so every backend reads and writes
the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter

from reconciler.records.state import FIELDS, Address, Fields, Kind, Value, as_codes, language_field, shared


@dataclass(frozen=True)
class Table:
    name: str
    kind: Kind
    quality_column: str | None
    key_column: str | None

    @cached_property
    def key_columns(self) -> tuple[str, ...]:
        first = "enterprise" if self.kind is not Kind.ENTERPRISE else "number"
        return (first, *(c for c in (self.quality_column, self.key_column) if c))

    @property
    def field_columns(self) -> tuple[str, ...]:
        return FIELDS[self.kind]

    @cached_property
    def key_values(self) -> Callable[[Address], tuple[str, ...]]:
        """The values of ``key_columns`` of an address (taken from the tuple in C: apply takes them
        from millions of addresses)."""
        positions = [0] + [2] * bool(self.quality_column) + [3] * bool(self.key_column)
        if len(positions) == 1:
            return lambda address: (address[0],)
        return itemgetter(*positions)

    @cached_property
    def columns_of(self) -> Callable[[Fields], tuple[object, ...]]:
        """The values of ``field_columns`` of a record's fields (in that order, as fields are)."""
        if not (set(self.field_columns) & (BOOLEAN_FIELDS | LIST_FIELDS)):
            return lambda fields: tuple([value for _, value in fields])
        return lambda fields: tuple([to_column(name, value) for name, value in fields])

    def address(self, row: tuple) -> Address:
        """Address of a row selected as ``key_columns + field_columns``."""
        index = 1
        quality = key = ""
        if self.quality_column:
            quality, index = row[index], index + 1
        if self.key_column:
            key = row[index]
        return Address(row[0], self.kind, quality, key)

    def collect(self, rows: Iterable[tuple], into: dict[str, dict[Address, Fields]]) -> None:
        """Each row's ``address`` and ``fields`` into ``into``, by enterprise.

        Users and people, most rows of a registry (a full plan reads a million of each), are taken
        apart in one loop each, their addresses made as their constructor would make them, and
        their records put in place without a generator between: the rows of one enterprise come
        together, so the enterprise's dictionary is looked up when the enterprise changes.
        """
        # No enterprise is ``_NOTHING``: a row whose enterprise is NULL (a store written by hand) is kept too.
        make, last, own = tuple.__new__, _NOTHING, {}
        if self.kind is Kind.USER:
            known, kind = _USER_FIELDS, Kind.USER
            for enterprise, quality, ssin, services, protected, until, profiles in rows:
                if enterprise != last:
                    last, own = enterprise, into.setdefault(enterprise, {})
                columns = (services, protected, until, profiles)
                own[make(Address, (enterprise, kind, quality, ssin))] = known.get(columns) or _user_fields(columns)
        elif self.kind is Kind.PERSON:
            kind = Kind.PERSON
            for enterprise, ssin, name, email, language in rows:
                if enterprise != last:
                    last, own = enterprise, into.setdefault(enterprise, {})
                own[make(Address, (enterprise, kind, "", ssin))] = (
                    ("name", name),
                    ("email", email),
                    language_field(language),
                )
        else:
            for row in rows:
                if row[0] != last:
                    last, own = row[0], into.setdefault(row[0], {})
                own[self.address(row)] = self.fields(row)

    def fields(self, row: tuple) -> Fields:
        """Fields of a row of a table other than users and people (``collect`` takes those apart)."""
        start = len(self.key_columns)
        values = row[start:]
        return tuple((name, to_value(name, value)) for name, value in zip(self.field_columns, values, strict=True))


_NOTHING = object()

# A user's stored columns (services, protected, until, profiles) take few distinct values in a
# registry: each combination is converted once and its fields shared by every row that has it.
_USER_FIELDS: dict[tuple, Fields] = {}
_USER_FIELDS_KEPT = 100_000  # past this many combinations (a hostile store), convert each row anew


def _user_fields(columns: tuple) -> Fields:
    found = _USER_FIELDS.get(columns)
    if found is None:
        services, protected, until, profiles = columns
        found = (
            shared("services", tuple(sorted(set(services.split())))),
            shared("protected", bool(protected)),
            shared("until", until),
            shared("profiles", tuple(sorted(set(profiles.split()))) if profiles else ()),
        )
        if len(_USER_FIELDS) < _USER_FIELDS_KEPT:
            _USER_FIELDS[columns] = found
    return found


TABLES: dict[Kind, Table] = {
    Kind.ENTERPRISE: Table("enterprises", Kind.ENTERPRISE, None, None),
    Kind.PERSON: Table("persons", Kind.PERSON, None, "ssin"),
    Kind.QUALITY: Table("qualities", Kind.QUALITY, "code", None),
    Kind.CO_MAIN_ACCESS_MANAGER: Table("co_main_access_managers", Kind.CO_MAIN_ACCESS_MANAGER, None, "ssin"),
    Kind.CO_ACCESS_MANAGER: Table("co_access_managers", Kind.CO_ACCESS_MANAGER, "quality", "ssin"),
    Kind.USER: Table("users", Kind.USER, "quality", "ssin"),
    Kind.SENDER: Table("senders", Kind.SENDER, "quality", "number"),
    Kind.ROUTE: Table("routes", Kind.ROUTE, "quality", "service"),
    Kind.PROFILE: Table("profiles", Kind.PROFILE, None, "name"),
}


BOOLEAN_FIELDS = frozenset({"activated", "protected"})


LIST_FIELDS = frozenset({"services", "profiles"})  # stored as codes separated by single spaces


def to_column(name: str, value: Value) -> object:
    if name in LIST_FIELDS:
        return " ".join(as_codes(value or ()))
    if name in BOOLEAN_FIELDS:
        return int(bool(value))
    return value


def to_value(name: str, column: object) -> Value:
    if name in LIST_FIELDS:
        return tuple(sorted(set(str(column or "").split())))
    if name in BOOLEAN_FIELDS:
        return bool(column)
    return column  # type: ignore[return-value]
