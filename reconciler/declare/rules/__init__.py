"""Hierarchy rules: every rule module, registered in id order, and the check that runs them all.

Each rule lives in the module of what it is about (``enterprise``, ``qualities``,
``parameters``, ``identifiers``) and registers itself in ``registry``; importing this
package imports them all.
"""

from __future__ import annotations

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise
from reconciler.declare.diagnostics import Diagnostic
from reconciler.declare.rules import enterprise, grants, identifiers, parameters, profiles, qualities
from reconciler.declare.rules.registry import RULES, WARNINGS

__all__ = [
    "RULES",
    "WARNINGS",
    "check_enterprise",
    "enterprise",
    "grants",
    "identifiers",
    "parameters",
    "profiles",
    "qualities",
    "warnings_of",
]


# An enterprise being off-boarded declares nothing but its number: the rules about what an
# enterprise holds (a main access manager, a default quality, ...) do not apply to it.
OFFBOARDING_RULES = ("H013", "H021")


def check_enterprise(declaration: DeclaredEnterprise, catalogue: Catalogue) -> list[Diagnostic]:
    """Run every rule on one enterprise and collect all findings."""
    rules = [RULES[i] for i in OFFBOARDING_RULES] if declaration.offboarding else RULES.values()
    return [
        Diagnostic(position, found.id, message)
        for found in rules
        for position, message in found.check(declaration, catalogue)
    ]


def warnings_of(declaration: DeclaredEnterprise, catalogue: Catalogue) -> list[Diagnostic]:
    """The warnings of an enterprise that passed every rule."""
    return [
        Diagnostic(position, found.id, message)
        for found in WARNINGS.values()
        for position, message in found.check(declaration, catalogue)
    ]
