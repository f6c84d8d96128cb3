"""Plans for people: persons by name, lists as what changed in them, and only the waiting
accounts a reviewer can act on (text and Markdown; JSON carries the same accounts)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, outside_write
from jsonschema import Draft202012Validator

from reconciler.accounts.waiting import WAITING_LISTED, with_waiting_accounts
from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.plan import Plan, make_plan
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind, fields
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import render_plan_markdown
from reconciler.render.text import names_of, render_change, render_plan

E, OTHER_E = "0999055557", "0999077729"
JAN, ELS, WIM = "58022754967", "75031366754", "91110738238"
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def person(ssin: str, name: str, action: Action = Action.CREATE, enterprise: str = E) -> Change:
    record = fields(Kind.PERSON, name=name, email="someone@x.example")
    address = Address(enterprise, Kind.PERSON, key=ssin)
    return Change(
        action, address, record if action is Action.DELETE else None, None if action is Action.DELETE else record
    )


def user(ssin: str, before: tuple | None, after: tuple | None, enterprise: str = E) -> Change:
    address = Address(enterprise, Kind.USER, "employer", ssin)
    old = fields(Kind.USER, services=before, protected=False) if before is not None else None
    new = fields(Kind.USER, services=after, protected=False) if after is not None else None
    action = Action.CREATE if old is None else Action.DELETE if new is None else Action.UPDATE
    return Change(action, address, old, new)


def header(main: str, before: str | None = None) -> Change:
    address = Address(E, Kind.ENTERPRISE)
    new = fields(Kind.ENTERPRISE, name="Acme", main_access_manager=main, default_quality="employer")
    if before is None:
        return Change(Action.CREATE, address, None, new)
    old = fields(Kind.ENTERPRISE, name="Acme", main_access_manager=before, default_quality="employer")
    return Change(Action.UPDATE, address, old, new)


def quality_manager(before: str | None, after: str | None) -> Change:
    address = Address(E, Kind.QUALITY, "employer")
    old, new = (fields(Kind.QUALITY, activated=True, access_manager=m, protected=False) for m in (before, after))
    return Change(Action.UPDATE, address, old, new)


RENAMED = Change(
    Action.UPDATE,
    Address(E, Kind.PERSON, key=JAN),
    fields(Kind.PERSON, name="Jan Mertens", email="jan@x.example"),
    fields(Kind.PERSON, name="Jan Mertens-Peeters", email="jan@x.example"),
)

# (the plan's changes of one enterprise, the change shown, the lines expected)
RENDERED = {
    "a user named by the plan's person record": (
        [person(JAN, "Jan Mertens"), user(JAN, None, ("dimona",))],
        1,
        ["  + quality[employer].user[Jan Mertens (58022754967)]", '      + services = ["dimona"]'],
    ),
    "a removed person named by its own record": (
        [person(JAN, "Jan Mertens", Action.DELETE)],
        0,
        [
            "  - person[Jan Mertens (58022754967)]",
            '      - name  = "Jan Mertens"',
            '      - email = "someone@x.example"',
            "        (account deactivated: its codes, password and sessions stop working)",
        ],
    ),
    "a renamed person shown by the new name": (
        [RENAMED],
        0,
        ["  ~ person[Jan Mertens-Peeters (58022754967)]", '      ~ name = "Jan Mertens" -> "Jan Mertens-Peeters"'],
    ),
    "nobody named: the SSIN alone, services added": (
        [user(JAN, ("dimona", "dmfa"), ("dimona", "dmfa", "drs"))],
        0,
        ["  ~ quality[employer].user[58022754967]", "      ~ services: +drs"],
    ),
    "services added and removed": (
        [person(JAN, "Jan Mertens", Action.DELETE), user(JAN, ("dimona", "dmfa"), ("dimona", "drs"))],
        1,
        ["  ~ quality[employer].user[Jan Mertens (58022754967)]", "      ~ services: +drs -dmfa"],
    ),
    "services removed only": (
        [user(JAN, ("checkinatwork", "dimona", "dmfa"), ("dimona",))],
        0,
        ["  ~ quality[employer].user[58022754967]", "      ~ services: -checkinatwork -dmfa"],
    ),
    "the main access manager replaced, both named": (
        [header(JAN, before=ELS), person(JAN, "Jan Mertens"), person(ELS, "Els Mertens", Action.DELETE)],
        0,
        ["  ~ enterprise", "      ~ main_access_manager = Els Mertens (75031366754) -> Jan Mertens (58022754967)"],
    ),
    "a new enterprise's main access manager": (
        [header(ELS), person(ELS, "Els Mertens")],
        0,
        [
            "  + enterprise",
            '      + name                = "Acme"',
            "      + main_access_manager = Els Mertens (75031366754)",
            '      + default_quality     = "employer"',
        ],
    ),
    "an access manager removed, the new one unnamed": (
        [quality_manager(WIM, None), person(WIM, "Wim Claes", Action.DELETE)],
        0,
        ["  ~ quality[employer]", "      ~ access_manager = Wim Claes (91110738238) -> null"],
    ),
    "co-main and co-access managers": (
        [
            person(WIM, "Wim Claes"),
            Change(
                Action.CREATE,
                Address(E, Kind.CO_ACCESS_MANAGER, "employer", WIM),
                None,
                fields(Kind.CO_ACCESS_MANAGER, protected=False),
            ),
        ],
        1,
        ["  + quality[employer].co_access_manager[Wim Claes (91110738238)]"],
    ),
    "a co-main access manager without a record in the plan": (
        [
            Change(
                Action.DELETE,
                Address(E, Kind.CO_MAIN_ACCESS_MANAGER, key=WIM),
                fields(Kind.CO_MAIN_ACCESS_MANAGER, protected=True),
                None,
            )
        ],
        0,
        ["  - co_main_access_manager[91110738238]", "      - protected = true"],
    ),
    "a hostile name escaped": (
        [person(JAN, "Eve\x1b[2J\u202eevil"), user(JAN, None, ("dimona",))],
        1,
        ["  + quality[employer].user[Eve\\x1b[2J\\u202eevil (58022754967)]", '      + services = ["dimona"]'],
    ),
}


@pytest.mark.parametrize("case", list(RENDERED))
def test_change_for_people(case: str) -> None:
    changes, shown, expected = RENDERED[case]
    assert render_change(changes[shown], names_of(changes)) == expected


def test_names_come_from_the_same_enterprise_only() -> None:
    plan = Plan(
        changes=(person(JAN, "Jan Mertens", enterprise=E), user(JAN, ("dimona",), ("dmfa",), enterprise=OTHER_E)),
        versions=((E, 1), (OTHER_E, 1)),
    )
    shown = render_plan(plan)
    assert "  + person[Jan Mertens (58022754967)]" in shown
    # A person is one account per enterprise: another enterprise's record does not name them here.
    assert "  ~ quality[employer].user[58022754967]\n      ~ services: +dmfa -dimona\n" in shown


def test_markdown_shows_persons_inside_the_fence_escaped() -> None:
    plan = Plan(changes=(person(JAN, "Eve\x1b`</details>@all"), user(JAN, None, ("dimona",))), versions=((E, 1),))
    comment = render_plan_markdown(plan)
    # Escaped as everywhere in the comment: a control character, then what Markdown or HTML would read.
    assert "+ quality[employer].user[Eve&#92;x1b&#96;&#60;/details&#62;@&#8203;all (58022754967)]" in comment
    assert "\x1b" not in comment
    # The JSON value of the name field keeps its text escape; only that one raw </details>, inside the fence.
    assert '+ name  = "Eve\\u001b`</details>@all"' in comment
    assert comment.count("</details>") == 2 and comment.count("\n</details>\n") == 1


# --- accounts not activated yet: only the enterprises changed, ten listed, the rest counted ---


def ssin(serial: int) -> str:
    base = f"800101{serial:03d}"
    return f"{base}{97 - int(base) % 97:02d}"


def crowded(folder: Path, users: int, name: str = "Crowded") -> None:
    """An enterprise of its own with ``users`` users: each an account waiting for codes after apply."""
    people = "".join(
        f'      - ssin: "{ssin(n)}"\n        name: Person {n:02d}\n        email: p{n}@x.example\n'
        "        services: [dimona]\n"
        for n in range(1, users + 1)
    )
    (folder / "crowded.yaml").write_text(f"""enterprise:
  number: "0999.077.729"
  name: {name}
main_access_manager:
  ssin: "75031366754"
  name: Els Mertens
  email: els@x.example
qualities:
  - code: employer
    default: true
    activated: true
    nsso_number: "010452187421"
    users:
{people}""")


def planned(folder: Path, store) -> Plan:
    desired, problems = load_desired([folder])
    assert problems == []
    return make_plan(desired.enterprises, store.read(desired.enterprises))


@pytest.fixture
def two_enterprises(store, tmp_path: Path) -> Path:
    """The small employer (3 accounts) and an enterprise of 14 accounts, applied: all waiting."""
    folder = tmp_path / "enterprises"
    folder.mkdir()
    shutil.copy(EXAMPLES / "small-employer.yaml", folder)
    crowded(folder, 13)
    apply_plan(planned(folder, store), store, now=NOW)
    return folder


def test_waiting_accounts_only_for_the_enterprises_changed(store, two_enterprises: Path) -> None:
    small = two_enterprises / "small-employer.yaml"
    small.write_text(small.read_text().replace("administratie@", "hr@"))
    plan = with_waiting_accounts(planned(two_enterprises, store), store, NOW)
    assert plan.waiting_counts == ((E, "awaiting codes", 3),)
    assert {w.enterprise for w in plan.waiting} == {E}
    text = render_plan(plan)
    assert "  0999.055.557: 3 awaiting codes\n" in text and "0999.077.729" not in text.split("Plan:")[1]
    assert "more" not in text
    small.write_text(small.read_text().replace("hr@", "administratie@"))
    unchanged = with_waiting_accounts(planned(two_enterprises, store), store, NOW)
    assert unchanged.is_empty and unchanged.waiting == () and unchanged.waiting_counts == ()
    assert render_plan(unchanged) == "No changes. The stored state matches the declaration.\n"


def test_waiting_accounts_listed_ten_then_counted(store, two_enterprises: Path) -> None:
    crowded(two_enterprises, 13, name="Crowded Again")
    plan = with_waiting_accounts(planned(two_enterprises, store), store, NOW)
    assert plan.waiting_counts == ((OTHER_E, "awaiting codes", 14),)
    assert len(plan.waiting) == WAITING_LISTED == 10
    text = render_plan(plan)
    assert "  0999.077.729: 14 awaiting codes\n" in text
    assert text.count("  awaiting codes\n") == 10 and text.endswith("\n    and 4 more\n")
    comment = render_plan_markdown(plan)
    assert comment.count(": awaiting codes\n") == 10 and "\n- 0999.077.729: and 4 more\n" in comment
    # JSON carries the same accounts, and still matches its schema.
    document = json.loads(render_plan_json(plan))
    assert len(document["waiting_accounts"]["first"]) == 10
    assert document["waiting_accounts"]["counts"] == [{"enterprise": OTHER_E, "status": "awaiting codes", "count": 14}]
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(document)) == []


def test_waiting_accounts_counted_and_listed_as_each_account_says(store, store_url: str, two_enterprises: Path) -> None:
    """The counts and the first accounts listed agree with each account's own status: codes not
    issued, issued with a deadline passed, with one to come, and with none recorded (pending)."""
    names = sorted(a.username for a in store.accounts(OTHER_E))
    deadlines = ["2026-10-01T00:00:00+00:00", "2026-12-31T00:00:00+00:00", None]
    for index, username in enumerate(names[:9]):
        deadline = deadlines[index % 3]
        outside_write(
            store_url,
            f"UPDATE accounts SET codes_issued_at = '2026-10-01T00:00:00+00:00', activation_deadline = "
            f"{'NULL' if deadline is None else repr(deadline)} WHERE username = '{username}'",
        )
    notices = store.activation_notices([OTHER_E, E], NOW, WAITING_LISTED)
    accounts = store.accounts(OTHER_E)
    statuses = [a.effective_status(NOW) for a in accounts]
    assert notices.counts == {
        OTHER_E: {status: statuses.count(status) for status in ("awaiting codes", "expired", "pending")},
        E: {"awaiting codes": 3},
    }
    assert notices.counts[OTHER_E] == {"awaiting codes": 5, "expired": 3, "pending": 6}
    first = sorted(accounts, key=lambda a: (a.activation_deadline or "", a.username))[:WAITING_LISTED]
    assert [a.username for a in notices.first if a.enterprise == OTHER_E] == [a.username for a in first]
    assert all(a.name for a in notices.first)  # joined to their people after the limit
