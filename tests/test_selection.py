"""Selection that cannot surprise: partial enterprises refused (P001), --enterprise, enterprises no
longer declared, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SECRETARIAT = "0999077729"
SMALL = "0999055557"


@pytest.fixture
def applied(run, tree: Path, store_url: str) -> str:
    done = run("apply", tree, "--state", store_url, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    return store_url


def test_a_plan_given_some_of_an_enterprises_files_is_refused_naming_the_others(run, tree, applied) -> None:
    split = tree / "social-secretariat"
    given = [split / "enterprise.yaml", split / "employer.yaml"]
    refused = run("plan", *given, "--state", applied)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    # The two files alone also lack a default quality (H003): both are said.
    [problem] = [line for line in refused.stderr.splitlines() if " P001 " in line]
    assert problem.startswith(
        f"{split / 'employer.yaml'}:1:1: P001 enterprise 0999.077.729 was last applied from 4 files; "
    )
    # The files left out, relative to the working directory (the registry's parent here).
    left_out = "registry/social-secretariat/service-provider.yaml, registry/social-secretariat/social-secretariat.yaml"
    assert f"{left_out} still exist but were not given" in problem
    assert f"--enterprise {SECRETARIAT}" in problem
    # Every format says it: in JSON the problems document, on stdout.
    shown = json.loads(run("plan", *given, "--state", applied, "--format", "json").stdout)
    assert "P001" in [p["rule"] for p in shown["problems"]]
    # Files that make a valid enterprise on their own are refused all the same.
    valid = [split / "enterprise.yaml", split / "social-secretariat.yaml"]
    alone = run("plan", *valid, "--state", applied)
    assert alone.exit_code == 1 and [line.split(": ")[1][:4] for line in alone.stderr.splitlines()[:-1]] == ["P001"]


def test_selected_whole_the_files_given_are_all_of_the_enterprise(run, tree, applied) -> None:
    split = tree / "social-secretariat"
    given = [split / "enterprise.yaml", split / "social-secretariat.yaml"]
    whole = json.loads(
        run("plan", *given, "--state", applied, "--enterprise", "0999.077.729", "--format", "json").stdout
    )
    removed = [c["address"] for c in whole["changes"] if c["action"] == "delete"]
    assert removed and all(a.startswith(f"enterprise[{SECRETARIAT}]") for a in removed)
    assert f"enterprise[{SECRETARIAT}].quality[service-provider]" in removed


def test_a_deleted_file_is_an_ordinary_edit(run, tree, applied) -> None:
    (tree / "social-secretariat" / "service-provider.yaml").unlink()
    planned = run("plan", tree / "social-secretariat", "--state", applied, "--format", "json")
    assert planned.exit_code == 0, planned.output
    removed = {c["address"] for c in json.loads(planned.stdout)["changes"] if c["action"] == "delete"}
    assert f"enterprise[{SECRETARIAT}].quality[service-provider]" in removed


def test_a_file_moved_to_another_name_is_no_missing_file(run, tree, applied) -> None:
    split = tree / "social-secretariat"
    (split / "employer.yaml").rename(split / "own-staff.yaml")
    planned = run("plan", tree, "--state", applied)
    assert planned.exit_code == 0, planned.output
    assert "No changes." in planned.stdout


def test_enterprise_selection_reads_no_other_enterprises_files(run, tree, applied) -> None:
    # The small employer's file is broken beyond reading, but only its head is looked at.
    broken = tree / "small-employer.yaml"
    broken.write_text(broken.read_text() + "\n  this: [is not yaml\n")
    assert run("plan", tree, "--state", applied).exit_code == 1
    selected = run("plan", tree, "--state", applied, "--enterprise", SECRETARIAT)
    assert selected.exit_code == 0, selected.output
    assert "No changes." in selected.stdout


def test_an_enterprise_selected_but_not_declared_is_named(run, tree, applied) -> None:
    refused = run("plan", tree / "small-employer.yaml", "--state", applied, "--enterprise", SECRETARIAT)
    assert refused.exit_code == 1
    assert "P002 enterprise 0999.077.729 was selected with --enterprise but no file given declares it" in (
        refused.stderr
    )
    wrong = run("plan", tree, "--state", applied, "--enterprise", "12345")
    assert wrong.exit_code == 1 and "12345" in wrong.stderr


def test_apply_with_enterprise_changes_only_that_enterprise(run, tree, applied) -> None:
    small = tree / "small-employer.yaml"
    small.write_text(small.read_text().replace("Bakkerij De Gouden Korst", "Bakkerij De Gouden Korst BV"))
    secretariat = tree / "social-secretariat" / "enterprise.yaml"
    secretariat.write_text(secretariat.read_text().replace("Vlaanderen", "Vlaanderen VZW"))
    done = run("apply", tree, "--state", applied, "--auto-approve", "--enterprise", SMALL, "--defer-codes")
    assert done.exit_code == 0, done.output
    assert "1 change in 1 enterprise" in done.stdout
    left = json.loads(run("plan", tree, "--state", applied, "--format", "json").stdout)
    assert {c["enterprise"] for c in left["changes"]} == {SECRETARIAT}


def test_a_saved_plan_is_applied_whole(run, tree, applied, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert run("plan", tree, "--state", applied, "--out", saved).exit_code == 0
    refused = run("apply", saved, "--state", applied, "--enterprise", SMALL)
    assert refused.exit_code == 1 and "a saved plan is applied as it was reviewed, whole" in refused.stderr


def test_enterprises_no_longer_declared_are_named_over_whole_folders(run, tree, applied) -> None:
    (tree / "small-employer.yaml").unlink()
    planned = run("plan", tree, "--state", applied)
    assert planned.exit_code == 0, planned.output
    assert "No changes." in planned.stdout
    assert "Stored but no longer declared (1; left as they are, to remove one declare it with offboard: true):" in (
        planned.stdout
    )
    assert "  0999.055.557" in planned.stdout
    shown = json.loads(run("plan", tree, "--state", applied, "--format", "json").stdout)
    assert shown["undeclared"] == [SMALL] and shown["changes"] == []
    markdown = run("plan", tree, "--state", applied, "--format", "markdown").stdout
    assert "0999.055.557" in markdown
    # Given files, not folders, a plan says nothing of the enterprises they leave out.
    single = json.loads(
        run(
            "plan",
            tree / "social-secretariat" / "enterprise.yaml",
            *sorted((tree / "social-secretariat").glob("s*")),
            tree / "social-secretariat" / "employer.yaml",
            "--state",
            applied,
            "--format",
            "json",
        ).stdout
    )
    assert single["undeclared"] == []


def test_an_offboarded_enterprise_is_not_listed_as_undeclared(run, tree, applied) -> None:
    small = tree / "small-employer.yaml"
    small.write_text(f'enterprise:\n  number: "{SMALL}"\n  offboard: true\n')
    done = run("apply", tree, "--state", applied, "--auto-approve", "--allow-offboarding")
    assert done.exit_code == 0, done.output
    small.unlink()
    shown = json.loads(run("plan", tree, "--state", applied, "--format", "json").stdout)
    assert shown["undeclared"] == []
    exported = run("export", "--state", applied, "--out", tree.parent / "exported")
    assert exported.exit_code == 0, exported.output
    again = run("plan", tree.parent / "exported", "--state", applied)
    assert again.exit_code == 0 and "No changes." in again.stdout, again.output


def test_show_takes_the_enterprise_as_an_option(run, applied) -> None:
    by_option = run("show", "--enterprise", "0999.055.557", "--state", applied)
    by_target = run("show", SMALL, "--state", applied)
    assert by_option.exit_code == 0 and by_option.stdout == by_target.stdout
    both = run("show", SMALL, "--enterprise", SMALL, "--state", applied)
    assert both.exit_code == 1
