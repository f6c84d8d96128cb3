"""Rules on a quality's parameters: senders of structured messages and routing rules."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise
from reconciler.declare.diagnostics import Position, where
from reconciler.declare.model import CHANNEL_FIELDS
from reconciler.declare.rules.registry import Finding, rule


@rule(
    "H009",
    "routing rules only to declared senders",
    "JSON Schema: the service offered and routable; the tool: declared sender, routed once",
)
def routes_to_declared_senders(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Routing rules (routeringsregels) send a service's structured messages through a sender of the same
    quality; the service is one the quality offers and exchanges as structured messages, and is routed once."""
    for code, blocks in enterprise.qualities().items():
        senders = {s.number for b in blocks for s in b.model.senders}
        offered = catalogue.qualities[code].services
        routed: dict[str, Position] = {}
        for block in blocks:
            for index, route in enumerate(block.model.routing):
                site = block.site.child("routing", index)
                if route.sender not in senders:
                    yield site.at("sender"), f'sender "{route.sender}" is not declared in quality "{code}"'
                if route.service not in offered:
                    yield site.at("service"), f'quality "{code}" does not offer the service "{route.service}"'
                elif not catalogue.services[route.service].structured_messages:
                    yield site.at("service"), f'the service "{route.service}" exchanges no structured messages'
                if route.service in routed:
                    yield site.at("service"), f'"{route.service}" is already routed ({where(routed[route.service])})'
                else:
                    routed[route.service] = site.at("service")


@rule("H010", "every sender has exactly one technical contact")
def sender_technical_contact(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Each sender of structured messages has exactly one technical contact."""
    for code, blocks in enterprise.qualities().items():
        for block in blocks:
            for index, sender in enumerate(block.model.senders):
                if sender.technical_contact is None:
                    yield (
                        block.site.at("senders", index),
                        f'sender "{sender.number}" of quality "{code}" has no technical_contact',
                    )


@rule("H011", "each channel has the fields it needs", "JSON Schema")
def channel_fields(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A channel carries what it needs and nothing else: sftp an SSH public key, soap and rest a
    certificate, ftp neither."""
    every = frozenset().union(*CHANNEL_FIELDS.values())
    for blocks in enterprise.qualities().values():
        for block in blocks:
            for index, sender in enumerate(block.model.senders):
                site = block.site.child("senders", index)
                needed = CHANNEL_FIELDS[sender.channel]
                for field in sorted(needed):
                    if getattr(sender, field) is None:
                        yield site.at("channel"), f'channel {sender.channel} of sender "{sender.number}" needs {field}'
                for field in sorted(every - needed):
                    if getattr(sender, field) is not None:
                        yield site.at(field, key=True), f"channel {sender.channel} takes no {field}"


@rule("H012", "sender numbers are unique in the enterprise")
def unique_sender_numbers(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A sender number (verzendernummer) identifies one sender: it is declared once in the enterprise."""
    seen: dict[str, Position] = {}
    for blocks in enterprise.qualities().values():
        for block in blocks:
            for index, sender in enumerate(block.model.senders):
                position = block.site.at("senders", index, "number")
                if sender.number in seen:
                    yield position, f'sender "{sender.number}" is already declared ({where(seen[sender.number])})'
                else:
                    seen[sender.number] = position
