"""The catalogue of qualities and online services, read from ``catalogue.yaml``.

Qualities and services change more often than code does, so they live in data; the
JSON Schema's enumerations and the rules that check services are both derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

IDENTIFIER_FIELDS = ("nsso_number",)


@dataclass(frozen=True)
class Service:
    code: str
    en: str
    nl: str
    fr: str
    structured_messages: bool


@dataclass(frozen=True)
class QualityKind:
    code: str
    en: str
    nl: str
    fr: str
    requires: tuple[str, ...]
    services: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    services: dict[str, Service]
    qualities: dict[str, QualityKind]


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package; checked for internal consistency on load."""
    text = resources.files("reconciler.declare").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    services = {code: Service(code, **fields) for code, fields in raw["services"].items()}
    qualities = {}
    for code, fields in raw["qualities"].items():
        unknown = set(fields["services"]) - services.keys()
        if unknown:
            raise ValueError(f"catalogue: quality {code} offers unknown services {sorted(unknown)}")
        if set(fields["requires"]) - set(IDENTIFIER_FIELDS):
            raise ValueError(f"catalogue: quality {code} requires unknown identifiers")
        qualities[code] = QualityKind(
            code,
            fields["en"],
            fields["nl"],
            fields["fr"],
            tuple(fields["requires"]),
            frozenset(fields["services"]),
        )
    return Catalogue(services, qualities)
