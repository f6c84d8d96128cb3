"""Drift named: rows written by hand in each store are found, marked in the plan, listed by
``reconciler drift``, put back or adopted by the next apply, and never mistaken for edits."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, ROOT, outside_write

from reconciler.store.audit import verify
from reconciler.store.backends import open_store

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"
JAN = f"enterprise[{E}].person[58022754967]"
FATIMA_USER = f"enterprise[{E}].quality[employer].user[61061906014]"
DRIFT_SCHEMA = json.loads((ROOT / "schemas" / "drift.schema.json").read_text())


@pytest.fixture
def applied(run, store_url: str) -> str:
    done = run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    return store_url


def drift_json(run, url: str) -> dict:
    result = run("drift", "--state", url, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    jsonschema.validate(document, DRIFT_SCHEMA)
    return document


def test_no_drift_after_an_apply(run, applied) -> None:
    assert run("drift", "--state", applied).stdout == "No drift: every enterprise is as its last apply left it.\n"
    assert run("drift", "--state", applied, "--detailed-exitcode").exit_code == 0
    assert drift_json(run, applied) == {"format_version": "1.0", "enterprises": []}


def test_a_hand_edit_is_named_and_the_next_plan_marks_its_change(run, applied) -> None:
    outside_write(applied, "UPDATE persons SET email = 'jan@elsewhere.example' WHERE ssin = '58022754967'")
    outside_write(applied, "DELETE FROM users WHERE ssin = '61061906014'")
    listed = run("drift", "--state", applied, "--detailed-exitcode")
    assert listed.exit_code == 2
    assert listed.stdout.splitlines()[:6] == [
        "# enterprise 0999.055.557: 2 records changed outside reconciler",
        f"  {JAN}",
        '    email: "jan@goudenkorst.example" -> "jan@elsewhere.example"',
        f"  {FATIMA_USER}",
        "    removed outside reconciler; the last apply left "
        '{"profiles": [], "protected": false, "services": ["checkinatwork"], "until": null}',
        "",
    ]
    [enterprise] = drift_json(run, applied)["enterprises"]
    assert [r["address"] for r in enterprise["records"]] == [JAN, FATIMA_USER]
    assert enterprise["records"][1]["found"] is None

    plan = run("plan", SMALL, "--state", applied)
    assert plan.stdout.count("(changed outside reconciler since the last apply: this puts it back as declared)") == 2
    assert "  0999.055.557: 2 records; 2 put back as declared (marked above)" in plan.stdout
    shown = json.loads(run("plan", SMALL, "--state", applied, "--format", "json").stdout)
    assert [d["address"] for d in shown["drift"]] == [JAN, FATIMA_USER]
    markdown = run("plan", SMALL, "--state", applied, "--format", "markdown").stdout
    assert "changed outside reconciler" in markdown

    done = run("apply", SMALL, "--state", applied, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    assert drift_json(run, applied)["enterprises"] == []
    assert "No changes." in run("plan", SMALL, "--state", applied).stdout


def test_a_hand_edit_the_declaration_agrees_with_is_adopted(run, applied, tmp_path: Path) -> None:
    outside_write(applied, "UPDATE persons SET email = 'jan@elsewhere.example' WHERE ssin = '58022754967'")
    declared = tmp_path / "small.yaml"
    declared.write_text(SMALL.read_text().replace("jan@goudenkorst.example", "jan@elsewhere.example"))
    plan = run("plan", declared, "--state", applied)
    assert "No changes." in plan.stdout
    assert "  0999.055.557: 1 records; 1 already as declared, recorded as adopted at apply" in plan.stdout
    done = run("apply", declared, "--state", applied, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    assert drift_json(run, applied)["enterprises"] == []
    store = open_store(applied)
    try:
        adopted = [e for e in store.audit_entries(E) if e.action == "adopt"]
        assert [e.address for e in adopted] == [JAN]
        assert verify(store.audit_entries(), store.audit_heads()) == []
        assert not store.read([E])[E].drifted
    finally:
        store.close()
    # The trail now says what the store holds: a later hand edit is measured from the adopted value.
    outside_write(applied, "UPDATE persons SET email = 'jan@third.example' WHERE ssin = '58022754967'")
    [enterprise] = drift_json(run, applied)["enterprises"]
    assert enterprise["records"][0]["applied"]["email"] == "jan@elsewhere.example"


def test_rows_created_by_hand_are_drift(run, applied) -> None:
    outside_write(
        applied,
        "INSERT INTO co_main_access_managers (enterprise, ssin, protected) VALUES ('0999055557', '58022754967', 0)",
    )
    [enterprise] = drift_json(run, applied)["enterprises"]
    [record] = enterprise["records"]
    assert record["address"] == f"enterprise[{E}].co_main_access_manager[58022754967]"
    assert record["applied"] is None and record["found"] == {"protected": False, "until": None}
    text = run("drift", "--state", applied).stdout
    assert 'created outside reconciler: {"protected": false, "until": null}' in text


def test_a_hostile_value_written_by_hand_is_shown_inert(run, applied) -> None:
    outside_write(applied, "UPDATE persons SET name = 'Jan' || char(27) || '[2J' WHERE ssin = '58022754967'") if (
        applied.startswith("sqlite")
    ) else outside_write(applied, "UPDATE persons SET name = 'Jan' || chr(27) || '[2J' WHERE ssin = '58022754967'")
    text = run("drift", "--state", applied).stdout
    assert "\x1b" not in text and "\\u001b[2J" in text


def test_drift_of_one_enterprise_and_an_unknown_one(run, applied) -> None:
    assert run("drift", "--state", applied, "--enterprise", "0999.055.557").exit_code == 0
    missing = run("drift", "--state", applied, "--enterprise", "0999077729")
    assert missing.exit_code == 1 and "not in the store: 0999077729" in missing.stderr
