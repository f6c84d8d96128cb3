"""The registry of hierarchy rules: each a small named check with a stable id.

A check receives one enterprise's declaration (all its files) and the catalogue, and
yields ``(position, message)`` pairs; ``rules.check_enterprise`` turns them into
diagnostics carrying the rule's id.  The README's rule table is generated from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise
from reconciler.declare.diagnostics import Position

Finding = tuple[Position, str]
Check = Callable[[DeclaredEnterprise, Catalogue], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    check: Check
    # Where the rule is checked: "tool only" when it spans records (people, blocks, files) that
    # one file's schema cannot see; otherwise what the JSON Schema states of it, which an
    # editor then checks as it is typed (the tool checks the schema too).
    checked_by: str = "tool only"

    @property
    def quote(self) -> str:
        """The rule as the portal states it, from the check's docstring."""
        return " ".join((self.check.__doc__ or "").split())


RULES: dict[str, Rule] = {}
# Warnings: findings that fail nothing (a line that can be deleted, a bundle nobody uses).
# They are checked on valid declarations only, and said beside the result, never instead of it.
WARNINGS: dict[str, Rule] = {}


def rule(rule_id: str, summary: str, checked_by: str = "tool only") -> Callable[[Check], Check]:
    """Register a check under a stable id; ids are never reused."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule id {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, summary, check, checked_by)
        return check

    return register


def warning(warning_id: str, summary: str) -> Callable[[Check], Check]:
    """Register a check whose findings are warnings, under a stable id (W...)."""

    def register(check: Check) -> Check:
        if warning_id in WARNINGS:
            raise ValueError(f"warning id {warning_id} registered twice")
        WARNINGS[warning_id] = Rule(warning_id, summary, check)
        return check

    return register
