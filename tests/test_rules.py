"""Every rule passes on the valid fixtures and the examples; the registry is well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.declare.catalogue import load_catalogue
from reconciler.declare.declared import group_documents
from reconciler.declare.reading import load_paths
from reconciler.declare.rules.registry import RULES
from reconciler.plan.desired import load_desired

HERE = Path(__file__).resolve().parent
VALID_SOURCES = [HERE / "fixtures" / "valid", HERE.parent / "examples" / "enterprises"]


def declarations():
    documents, problems = load_paths(VALID_SOURCES)
    assert problems == []
    grouped, problems = group_documents(documents)
    assert problems == []
    return grouped


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_passes_on_every_valid_declaration(rule_id: str) -> None:
    catalogue = load_catalogue()
    for declaration in declarations().values():
        assert list(RULES[rule_id].check(declaration, catalogue)) == [], declaration.number


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_is_documented(rule_id: str) -> None:
    rule = RULES[rule_id]
    assert re.fullmatch(r"H\d{3}", rule.id)
    assert rule.summary
    assert len(rule.quote) > 20


def test_valid_sources_load_without_findings() -> None:
    desired, problems = load_desired(VALID_SOURCES)
    assert problems == []
    assert len(desired.enterprises) == 4


def test_split_quality_blocks_are_merged() -> None:
    desired, _ = load_desired([HERE / "fixtures" / "valid"])
    state = desired.enterprises["0999088815"]
    users = sorted(a.key for a in state.records if a.kind.value == "user" and a.quality == "employer")
    assert users == ["58022754967", "61061906014", "85073003328"]
