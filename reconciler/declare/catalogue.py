"""The catalogue of qualities and online services: the shipped one, and the one in effect.

Qualities and services change more often than code does, and an organisation may know of
one the product does not ship yet, so they live in data the user owns: ``catalogue.yaml``
in the package, plus an optional file of the user's (``reconciler.yaml`` or ``--catalogue``,
read by ``catalogue_file``) that adds or replaces entries.  The result is the *effective*
catalogue; the JSON Schema's enumerations and per-quality constraints, the rules, the docs
tables and the plan texts all follow it.

The effective catalogue is process-wide (``activate``) rather than passed down every call:
the command line chooses it once, before anything is read, and every stage below it (the
schema, the rules, planning in forked workers, the web overview) sees the same one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

IDENTIFIER_FIELDS = ("nsso_number",)
SHIPPED_NAME = "catalogue.yaml"


@dataclass(frozen=True)
class Service:
    code: str
    en: str
    nl: str
    fr: str
    structured_messages: bool
    de: str = ""  # German; "" for entries written before German labels, shown in English

    def label(self, language: str) -> str:
        """The name in ``language`` (nl, fr, de or en), English where none is known."""
        return _label(self, language)


@dataclass(frozen=True)
class QualityKind:
    code: str
    en: str
    nl: str
    fr: str
    requires: tuple[str, ...]
    services: frozenset[str]
    de: str = ""

    def label(self, language: str) -> str:
        """The name in ``language`` (nl, fr, de or en), English where none is known."""
        return _label(self, language)


def _label(entry: Service | QualityKind, language: str) -> str:
    return {"nl": entry.nl, "fr": entry.fr, "de": entry.de}.get(language) or entry.en


@dataclass(frozen=True)
class Catalogue:
    """Qualities and services by code, and a digest of the files they came from.

    ``digest`` names the catalogue: compiled validators are cached under it, and incremental
    planning records it, so a change to either file makes every enterprise be planned again.
    """

    services: dict[str, Service]
    qualities: dict[str, QualityKind]
    digest: str = ""
    sources: tuple[str, ...] = field(default=())

    def offered(self, quality: str) -> list[str]:
        """The services a quality offers, in catalogue order (for stable schemas and messages)."""
        return [code for code in self.services if code in self.qualities[quality].services]

    def routable(self, quality: str) -> list[str]:
        """The services of a quality whose structured messages a routing rule may send."""
        return [code for code in self.offered(quality) if self.services[code].structured_messages]


def service_entry(code: str, fields: dict[str, Any]) -> Service:
    """An entry as written; Dutch, French and German names default to the English one."""
    return Service(
        code,
        fields["en"],
        fields.get("nl", fields["en"]),
        fields.get("fr", fields["en"]),
        bool(fields.get("structured_messages", False)),
        fields.get("de", fields["en"]),
    )


def quality_entry(code: str, fields: dict[str, Any]) -> QualityKind:
    return QualityKind(
        code,
        fields["en"],
        fields.get("nl", fields["en"]),
        fields.get("fr", fields["en"]),
        tuple(fields.get("requires", ())),
        frozenset(fields["services"]),
        fields.get("de", fields["en"]),
    )


def combine(base: Catalogue, raw: dict[str, Any], source: str, content: bytes) -> Catalogue:
    """``base`` with the entries of ``raw`` added, or replacing those of the same code whole.

    Replacing whole (rather than field by field) keeps an override readable on its own: what
    the user file says about a quality is all there is to it.
    """
    services = dict(base.services)
    for code, fields in (raw.get("services") or {}).items():
        services[code] = service_entry(code, fields)
    qualities = dict(base.qualities)
    for code, fields in (raw.get("qualities") or {}).items():
        qualities[code] = quality_entry(code, fields)
    digest = hashlib.sha256(f"{base.digest}\n".encode() + content).hexdigest()
    return Catalogue(services, qualities, digest, (*base.sources, source))


def inconsistencies(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(quality code, message) for each quality naming a service or identifier nobody defines."""
    found = []
    for code, quality in catalogue.qualities.items():
        unknown = sorted(quality.services - catalogue.services.keys())
        if unknown:
            found.append((code, f"quality {code!r} offers unknown services: {', '.join(unknown)}"))
        strange = sorted(set(quality.requires) - set(IDENTIFIER_FIELDS))
        if strange:
            found.append((code, f"quality {code!r} requires unknown identifiers: {', '.join(strange)}"))
    return found


@cache
def shipped_catalogue() -> Catalogue:
    """The catalogue shipped with the package; checked for internal consistency on load."""
    content = resources.files("reconciler.declare").joinpath(SHIPPED_NAME).read_bytes()
    raw = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    empty = Catalogue({}, {}, "", ())
    catalogue = combine(empty, raw, f"reconciler/declare/{SHIPPED_NAME}", content)
    problems = inconsistencies(catalogue)
    if problems:
        raise ValueError("catalogue: " + "; ".join(message for _, message in problems))
    return catalogue


class _Effective:
    catalogue: Catalogue | None = None


def activate(catalogue: Catalogue | None) -> None:
    """Make ``catalogue`` the one in effect for this process (None: the shipped one)."""
    _Effective.catalogue = catalogue


def load_catalogue() -> Catalogue:
    """The catalogue in effect: the shipped one, unless a user file was activated."""
    return _Effective.catalogue or shipped_catalogue()
