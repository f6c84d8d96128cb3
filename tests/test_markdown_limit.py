"""The shortened pull-request comment, property-style over many limits: never longer than the
limit, only whole pieces, every enterprise either shown or counted and listed, the gates and
the pointer to the full plan always there."""

from __future__ import annotations

import re

import pytest

from reconciler.plan.gates import Refusal
from reconciler.plan.plan import Plan
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind, fields
from reconciler.render.markdown import render_plan_markdown

POINTER = "read it in the artifact plan.json."
LEFT_OUT = re.compile(r"^\*\*([\d,]+) enterprises? not shown here\*\*, whose changes are in the full plan: (.*)$")


def ssin(serial: int) -> str:
    base = f"8001{serial:05d}"
    return f"{base}{97 - int(base) % 97:02d}"


def synthetic_plan(enterprises: int, gated_every: int = 2) -> Plan:
    """Enterprises of uneven sizes (1 to 9 new users), and gates refusing many of them."""
    changes: list[Change] = []
    refusals: list[Refusal] = []
    serial = 0
    numbers = [f"0{400_000_000 + 97 * n:09d}" for n in range(enterprises)]
    for index, number in enumerate(numbers):
        for _ in range(1 + index * 7 % 9):
            serial += 1
            who = ssin(serial)
            record = fields(Kind.PERSON, name=f"Person {serial}", email=f"p{serial}@x.example")
            changes.append(Change(Action.CREATE, Address(number, Kind.PERSON, key=who), None, record))
            user = fields(Kind.USER, services=("dimona", "dmfa"), protected=False)
            changes.append(Change(Action.CREATE, Address(number, Kind.USER, "employer", who), None, user))
        if index % gated_every == 0:
            refusals.append(Refusal("G001", number, "would remove 3 of 4 users (75%)", "--allow-mass-removal"))
        if index % (gated_every * 3) == 1:
            refusals.append(
                Refusal("G005", number, "protected sender 230451 would be removed", "--allow-protected-removal")
            )
    return Plan(changes=tuple(changes), versions=tuple((n, 3) for n in numbers), refusals=tuple(refusals))


def sections_of(comment: str) -> list[str]:
    return re.findall(r"^<details><summary><b>([\d.]+)</b>", comment, flags=re.MULTILINE)


def check(plan: Plan, limit: int) -> tuple[int, bool]:
    """The invariants of one comment; returns how many sections it kept, and whether it lists
    every enterprise left out."""
    numbers = list(dict.fromkeys(c.address.enterprise for c in plan.changes))
    full = render_plan_markdown(plan, limit=10**9)
    comment = render_plan_markdown(plan, limit=limit, full_plan_at="the artifact plan.json")
    assert len(comment) <= limit
    if comment == full:
        return len(numbers), True
    lines = comment.split("\n")
    assert lines[-2].endswith(POINTER) and lines[-1] == ""  # the pointer, last, whole
    assert not comment.endswith("…\n")  # nothing cut
    # Every line is a line of the full comment, or one the shortened comment writes whole.
    own = set(full.split("\n"))
    for line in lines:
        assert line in own or LEFT_OUT.match(line) or line.startswith(("> - `G", "The full plan (")), line
    # Whole sections, in plan order, each closed.
    kept = [n.replace(".", "") for n in sections_of(comment)]
    assert kept == [n for n in numbers if n in kept]
    assert comment.count("<details>") == comment.count("</details>") == len(kept)
    # Every enterprise left out is counted; listed, all of them or the first ones and a count.
    left = [n for n in numbers if n not in kept]
    found = [m for m in map(LEFT_OUT.match, lines) if m]
    complete = True
    if left:
        (match,) = found
        assert int(match.group(1).replace(",", "")) == len(left)
        listed = match.group(2)
        if listed == "too many to list here.":
            complete = False
        elif " and " in listed:
            first, more = listed.split(" and ")
            assert first.split() == left[: len(first.split())]
            assert more == f"{len(left) - len(first.split()):,} more"
            complete = False
        else:
            assert listed.split() == left
    else:
        assert found == []
    # The gates, always: each refusal with its message, or each gate with its enterprises, or
    # each gate with a count.
    gates = {r.gate for r in plan.refusals}
    assert {g for g in gates if f"> - `{g}` " in comment} == gates
    return len(kept), complete


LIMITS = [1_000, 1_200, 1_500, 2_000, 3_000, 5_000, 8_000, 13_000, 21_000, 34_000, 60_000]


@pytest.mark.parametrize("enterprises", [1, 3, 40, 120])
def test_shortened_comment_over_many_limits(enterprises: int) -> None:
    plan = synthetic_plan(enterprises)
    results = [check(plan, limit) for limit in LIMITS]
    assert results[-1] == (enterprises, True) if enterprises < 40 else results[-1][1]
    assert max(kept for kept, _ in results) > 0  # some limit leaves room for sections


def test_every_number_listed_when_sections_leave_no_room() -> None:
    plan = synthetic_plan(40)
    comment = render_plan_markdown(plan, limit=2_000)
    (line,) = [line for line in comment.split("\n") if LEFT_OUT.match(line)]
    assert len(line.split(": ", 1)[1].split()) + len(sections_of(comment)) == 40


def test_gates_are_shortened_before_they_are_dropped() -> None:
    plan = synthetic_plan(120, gated_every=1)  # 160 refusals: their messages alone pass 10,000 characters
    roomy = render_plan_markdown(plan, limit=60_000)
    assert "> - `G001` 0400.000.000 would remove 3 of 4 users (75%) (`--allow-mass-removal`)" in roomy
    listed = render_plan_markdown(plan, limit=5_000)
    assert "> - `G001` (`--allow-mass-removal`): 0400000000 0400000097 " in listed
    counted = render_plan_markdown(plan, limit=1_000)
    assert "> - `G001` (`--allow-mass-removal`): 120 enterprises" in counted
    assert "> - `G005` (`--allow-protected-removal`): 40 enterprises" in counted
    assert len(counted) <= 1_000 and counted.rstrip().endswith(
        "read it in the plan job's log (`reconciler plan` in text format)."
    )


@pytest.mark.parametrize("limit", range(1_000, 4_000, 97))
def test_no_limit_is_exceeded_or_cuts_a_word(limit: int) -> None:
    check(synthetic_plan(120, gated_every=1), limit)
