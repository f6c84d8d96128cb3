"""What the catalogue says, written into the enterprise schema as ``if``/``then`` per code.

The models give the shape of the format; the effective catalogue gives its vocabulary and
what each word implies: the codes of qualities and services, the services each quality
offers (to users, and to routing rules when they exchange structured messages), the
identifiers a quality requires, and what each sender channel carries.  Stating these in
the schema makes an editor say what the tool says, on the line being typed.

Each constraint that a hierarchy rule also states carries that rule's id (``x-rule``), so
the tool reports it under the id people know, with the same message.  Unknown keywords are
annotations to every JSON Schema validator, editors included.

The identifiers a quality requires are required in the block that sets the quality's
settings (``QUALITY_SETTINGS``): a quality split over several blocks may hold further
blocks of only people and senders, and whether *some* block carries the identifier spans
blocks and files, which rule H016 checks in the tool.
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.model import CHANNEL_FIELDS

RULE = "x-rule"
QUALITY = "x-quality"
CHANNEL = "x-channel"
QUALITY_SETTINGS = ("activated", "default", "protected", "notification_email")


def with_catalogue(body: dict[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """A copy of the models' schema with the catalogue's enumerations and constraints in it."""
    body = copy.deepcopy(body)
    definitions = body["$defs"]
    definitions["Quality"]["properties"]["code"]["enum"] = list(catalogue.qualities)
    definitions["User"]["properties"]["services"]["items"]["enum"] = list(catalogue.services)
    for bundle in body["properties"]["profiles"]["patternProperties"].values():  # one: every profile's services
        bundle["items"]["enum"] = list(catalogue.services)
        bundle["uniqueItems"] = True
    definitions["Route"]["properties"]["service"]["enum"] = list(catalogue.services)
    definitions["Quality"]["allOf"] = [_quality(catalogue, code) for code in catalogue.qualities]
    definitions["Sender"]["allOf"] = [_channel(channel, needed) for channel, needed in CHANNEL_FIELDS.items()]
    return body


def _quality(catalogue: Catalogue, code: str) -> dict[str, Any]:
    kind = catalogue.qualities[code]
    then: dict[str, Any] = {
        "description": f"The catalogue's quality {code}: the services it offers"
        + (f", and {', '.join(kind.requires)} in the block that sets its settings" if kind.requires else ""),
        "properties": {
            "users": {
                "items": {
                    "properties": {
                        "services": {"items": {"enum": catalogue.offered(code), RULE: "H008", QUALITY: code}}
                    }
                }
            },
            "routing": {
                "items": {"properties": {"service": {"enum": catalogue.routable(code), RULE: "H009", QUALITY: code}}}
            },
        },
    }
    if kind.requires:
        then["dependentRequired"] = {setting: list(kind.requires) for setting in QUALITY_SETTINGS}
        then[RULE] = "H016"
        then[QUALITY] = code
    return {"if": {"properties": {"code": {"const": code}}, "required": ["code"]}, "then": then}


def _channel(channel: str, needed: frozenset[str]) -> dict[str, Any]:
    others = sorted(frozenset().union(*CHANNEL_FIELDS.values()) - needed)
    then: dict[str, Any] = {
        "description": f"Channel {channel} carries "
        + (" and ".join(sorted(needed)) if needed else "neither key nor certificate")
        + " and nothing else.",
        "required": sorted(needed),
        "allOf": [{"not": {"required": [field]}, RULE: "H011", CHANNEL: channel} for field in others],
        RULE: "H011",
        CHANNEL: channel,
    }
    return {"if": {"properties": {"channel": {"const": channel}}, "required": ["channel"]}, "then": then}
