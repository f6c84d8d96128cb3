"""Write the stored state back as YAML that validates and plans to zero changes.

The export is the inverse of ``declared_state``: one file per enterprise, identifiers in
their compact form, empty lists and unset fields left out so the files read like ones a
person would write.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.declare.characters import SHOWN_ESCAPED, escape_character
from reconciler.declare.schema import schema_text
from reconciler.records.state import Address, EnterpriseState, Kind, StoredEnterprise, as_codes, as_text
from reconciler.store.files import private_folder, write_private


class Quoted(str):
    """A string always written in double quotes: identifiers, as the format asks of people too."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


_Dumper.add_representer(
    Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')
)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Text as usual; text holding a control or format character double-quoted, so it can be escaped."""
    style = None if value.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def enterprise_document(state: EnterpriseState) -> dict:
    records = state.records
    people = {a.key: dict(f) for a, f in records.items() if a.kind is Kind.PERSON}

    def as_date(value: object) -> str | None:
        return value if isinstance(value, str) else None

    def person(ssin: str, protected: bool = False, until: str | None = None) -> dict:
        found = {"ssin": Quoted(ssin), "name": people[ssin]["name"], "email": people[ssin]["email"]}
        if people[ssin]["language"]:
            found["language"] = people[ssin]["language"]
        if protected:
            found["protected"] = True
        if until:
            found["until"] = Quoted(until)
        return found

    header = dict(records[Address(state.number, Kind.ENTERPRISE)])
    document: dict = {"enterprise": {"number": Quoted(state.number), "name": header["name"]}}
    if len(records) == 1:  # off-boarded: only the header is left, which this declaration keeps as it is
        document["enterprise"]["offboard"] = True
        return document
    if header["language"]:
        document["enterprise"]["language"] = header["language"]
    if header["main_access_manager"]:
        document["main_access_manager"] = person(as_text(header["main_access_manager"]))
    co_main = sorted(
        (a.key, bool(dict(f)["protected"]), as_date(dict(f)["until"]))
        for a, f in records.items()
        if a.kind is Kind.CO_MAIN_ACCESS_MANAGER
    )
    if co_main:
        document["co_main_access_managers"] = [person(ssin, protected, until) for ssin, protected, until in co_main]
    codes = sorted(
        (a.quality for a in records if a.kind is Kind.QUALITY),
        key=lambda code: (code != header["default_quality"], code),
    )
    document["qualities"] = [_quality(state, code, code == header["default_quality"], person) for code in codes]
    bundles = {a.key: list(as_codes(dict(f)["services"])) for a, f in records.items() if a.kind is Kind.PROFILE}
    if bundles:
        document["profiles"] = dict(sorted(bundles.items()))
    return document


def _quality(state: EnterpriseState, code: str, default: bool, person) -> dict:
    inside = sorted((a, dict(f)) for a, f in state.records.items() if a.quality == code and a.kind is not Kind.QUALITY)
    settings = dict(state.records[Address(state.number, Kind.QUALITY, code)])
    quality: dict = {"code": code}
    if default:
        quality["default"] = True
    if not settings["activated"]:
        quality["activated"] = False
    if settings["protected"]:
        quality["protected"] = True
    for name in ("nsso_number", "notification_email"):
        if settings[name] is not None:
            quality[name] = Quoted(settings[name]) if name == "nsso_number" else settings[name]
    if settings["access_manager"]:
        quality["access_manager"] = person(settings["access_manager"], until=settings["access_manager_until"])
    by_kind: dict[Kind, list] = {}
    for address, fields in inside:
        by_kind.setdefault(address.kind, []).append((address, fields))
    if Kind.CO_ACCESS_MANAGER in by_kind:
        quality["co_access_managers"] = [
            person(a.key, f["protected"], f["until"]) for a, f in by_kind[Kind.CO_ACCESS_MANAGER]
        ]
    if Kind.USER in by_kind:
        bundles = {
            a.key: set(as_codes(dict(f)["services"])) for a, f in state.records.items() if a.kind is Kind.PROFILE
        }
        quality["users"] = [_user(person(a.key, f["protected"], f["until"]), f, bundles) for a, f in by_kind[Kind.USER]]
    if Kind.SENDER in by_kind:
        quality["senders"] = [_sender(a.key, f) for a, f in by_kind[Kind.SENDER]]
    if Kind.ROUTE in by_kind:
        quality["routing"] = [{"service": a.key, "sender": Quoted(f["sender"])} for a, f in by_kind[Kind.ROUTE]]
    return quality


def _user(found: dict, fields: dict, bundles: dict[str, set[str]]) -> dict:
    """A user entry: their profiles, and as their own services those no profile of theirs brings."""
    profiles = list(fields["profiles"])
    brought = set().union(*(bundles.get(name, set()) for name in profiles))
    found["services"] = [service for service in fields["services"] if service not in brought]
    if profiles:
        found["profiles"] = profiles
    return found


def _sender(number: str, fields: dict) -> dict:
    sender = {"number": Quoted(number), "channel": fields["channel"]}
    for name in ("ssh_public_key", "certificate_fingerprint"):
        if fields[name] is not None:
            sender[name] = fields[name]
    contact = {"name": fields["contact_name"], "email": fields["contact_email"]}
    if fields["contact_phone"] is not None:
        contact["phone"] = fields["contact_phone"]
    sender["technical_contact"] = contact
    if fields["protected"]:
        sender["protected"] = True
    return sender


def dump_yaml(document: dict) -> str:
    """YAML as a person would write it: fields in model order, identifiers quoted.

    Values from before validation refused control and bidirectional characters are written
    with those characters as escapes inside double quotes (PyYAML writes some of them raw):
    the file reads back to the same text, and a reviewer sees what is there.
    """
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return text if text.isprintable() or not SHOWN_ESCAPED.search(text.replace("\n", "")) else _escaped(text)


def _escaped(text: str) -> str:
    lines = text.split("\n")
    return "\n".join(SHOWN_ESCAPED.sub(lambda match: escape_character(match.group()), line) for line in lines)


SCHEMA_FILE = "enterprise.schema.json"


def export(stored: dict[str, StoredEnterprise], out: Path, schema_url: str | None = None) -> list[Path]:
    """Write one file per enterprise into ``out`` (owner-only: they name people); return the paths written.

    Each file's schema line must resolve from where the files are, whoever opens them: by
    default the schema of the catalogue in effect is written beside them and named
    relatively (a checkout's ``schemas/`` may be elsewhere, or absent, or of another
    catalogue); with ``schema_url`` the line names that URL and no copy is written.
    """
    private_folder(out)
    if schema_url is None:
        write_private(out / SCHEMA_FILE, schema_text())
    header = f"# yaml-language-server: $schema={schema_url or SCHEMA_FILE}\n"
    written = []
    for number in sorted(stored):
        body = dump_yaml(enterprise_document(stored[number].state))
        path = out / f"{number}.yaml"
        write_private(path, header + body)
        written.append(path)
    return written
