"""The command line: names, options, exit codes and messages that scripts rely on."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, FIXTURES

SMALL = EXAMPLES / "small-employer.yaml"


def test_version_and_help(run) -> None:
    result = run("--version")
    assert result.exit_code == 0 and "reconciler, version" in result.stdout
    for command in ("validate", "plan", "apply", "export", "show"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Usage: " in result.stdout


def test_python_dash_m_runs_the_cli() -> None:
    completed = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and "reconciler, version" in completed.stdout


def test_usage_errors_exit_1_not_2() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--no-such-option"], capture_output=True, text=True
    )
    assert completed.returncode == 1
    assert "No such option" in completed.stderr


def test_validate(run) -> None:
    result = run("validate", EXAMPLES)
    assert result.exit_code == 0
    assert result.stdout == "12 files valid: 3 enterprises.\n"


def test_validate_reports_problems_on_stderr(run) -> None:
    result = run("validate", FIXTURES / "invalid" / "many_problems_across_files")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "3 problems found."


def test_validate_nothing_to_read(run, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("validate", tmp_path / "empty")
    assert result.exit_code == 1
    assert "Y004 no YAML files (*.yaml, *.yml) found" in result.stderr


def test_plan_detailed_exitcode(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    assert run("plan", SMALL, "--state", state).exit_code == 0
    assert run("plan", SMALL, "--state", state, "--detailed-exitcode").exit_code == 2
    assert run("apply", SMALL, "--state", state, "--auto-approve").exit_code == 0
    result = run("plan", SMALL, "--state", state, "--detailed-exitcode")
    assert result.exit_code == 0
    assert result.stdout == (
        "No changes. The stored state matches the declaration.\n"
        "1 enterprise unchanged since its last apply (same files, same stored version) "
        "was not read again.\n"
    )
    full = run("plan", SMALL, "--state", state, "--full").stdout  # read, but nothing changes: no accounts listed
    assert full == "No changes. The stored state matches the declaration.\n"


def test_plan_json(run, tmp_path: Path) -> None:
    result = run("plan", SMALL, "--state", f"sqlite:///{tmp_path / 's.db'}", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["summary"] == {"create": 7, "update": 0, "delete": 0}
    assert document["versions"] == {"0999055557": None}


def test_plan_of_invalid_files_fails_without_output(run, tmp_path: Path) -> None:
    result = run(
        "plan", FIXTURES / "invalid" / "h004_two_access_managers.yaml", "--state", f"sqlite:///{tmp_path / 's.db'}"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert " H004 " in result.stderr


def test_apply_refuses_without_a_terminal(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    result = run("apply", SMALL, "--state", state)
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.stderr
    assert run("plan", SMALL, "--state", state, "--detailed-exitcode").exit_code == 2  # nothing applied


@pytest.mark.parametrize(("answer", "code", "applied"), [("yes\n", 0, True), ("no\n", 1, False), ("y\n", 1, False)])
def test_apply_asks_on_a_terminal(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, code: int, applied: bool
) -> None:
    monkeypatch.setattr("reconciler.cli.planning.is_terminal", lambda: True)
    state = f"sqlite:///{tmp_path / 's.db'}"
    result = run("apply", SMALL, "--state", state, input=answer)
    assert result.exit_code == code
    assert "Only 'yes' will be accepted" in result.stdout
    assert (run("plan", SMALL, "--state", state, "--detailed-exitcode").exit_code == 0) == applied


def test_apply_twice_second_is_a_no_op(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    first = run("apply", EXAMPLES, "--state", state, "--auto-approve")
    assert first.exit_code == 0 and "Apply complete" in first.stdout
    second = run("apply", EXAMPLES, "--state", state, "--auto-approve")
    assert second.exit_code == 0
    assert second.stdout.startswith("No changes. The stored state matches the declaration.\n3 enterprises unchanged")


def test_state_from_environment_and_default_location(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_STATE", f"sqlite:///{tmp_path / 'env.db'}")
    assert run("apply", SMALL, "--auto-approve").exit_code == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("RECONCILER_STATE")
    assert run("apply", SMALL, "--auto-approve").exit_code == 0
    assert (tmp_path / ".reconciler" / "state.db").exists()  # run() works in tmp_path


@pytest.mark.parametrize("url", ["mysql://nowhere/db", "sqlite:relative.db", "/plain/path.db"])
def test_unsupported_state_url(run, url: str) -> None:
    result = run("plan", SMALL, "--state", url)
    assert result.exit_code == 1
    assert "unsupported state URL" in result.stderr


def test_unreachable_postgresql(run) -> None:
    result = run("plan", SMALL, "--state", "postgresql://127.0.0.1:1/test")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open state postgresql://127.0.0.1:1/test: ")
    assert "Traceback" not in result.stderr


def test_unopenable_state(run, tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is not a database " * 100)
    result = run("plan", SMALL, "--state", f"sqlite:///{tmp_path / 'not-a-db'}")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open state")


def test_show_and_export(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    assert run("show", "--state", state).stdout == "The store holds no enterprises.\n"
    run("apply", EXAMPLES, "--state", state, "--auto-approve")
    overview = run("show", "--state", state).stdout.splitlines()
    assert len(overview) == 3 and overview[0].startswith("0999.055.557  Bakkerij De Gouden Korst  (version ")
    detail = run("show", "BE0999.055.557", "--state", state)
    assert detail.exit_code == 0
    assert "main access manager: Els Mertens (75031366754) [emertens, pending until " in detail.stdout
    assert "accounts: 3 pending" in detail.stdout
    assert sorted(p.name for p in (tmp_path / ".reconciler/letters/0999055557").iterdir()) == [
        "emertens",
        "felamrani",
        "jmertens",
    ]
    assert run("show", "0999.055.558", "--state", state).exit_code == 1
    missing = run("show", "0999.088.815", "--state", state)
    assert missing.exit_code == 1 and "not in the store" in missing.stderr
    result = run("export", "--state", state, "--out", tmp_path / "out")
    assert result.exit_code == 0 and result.stdout == f"Exported 3 enterprises to {tmp_path / 'out'}.\n"
    assert run("validate", tmp_path / "out").exit_code == 0
    assert run("plan", tmp_path / "out", "--state", state, "--detailed-exitcode").exit_code == 0


def test_changes_made_outside_reconciler_are_planned_back(run, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = f"sqlite:///{path}"
    run("apply", SMALL, "--state", state, "--auto-approve")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE users SET services = 'dimona' WHERE ssin = '58022754967'")
        db.execute("UPDATE qualities SET notification_email = 'someone@else.example'")
    result = run("plan", SMALL, "--state", state, "--detailed-exitcode")
    assert result.exit_code == 2
    assert "~ services: +dmfa" in result.stdout
    assert '~ notification_email = "someone@else.example" -> "administratie@goudenkorst.example"' in result.stdout


def test_progress_only_when_asked_or_on_a_terminal(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    quiet = run("plan", EXAMPLES, "--state", state)
    assert "reading" not in quiet.stderr  # not a terminal: silent, as in CI logs
    loud = run("plan", EXAMPLES, "--state", state, "--progress")
    assert loud.exit_code == 0
    assert loud.stderr.splitlines()[-1] == "reading 12 of 12 files"


def test_a_summary_counts_changes_per_enterprise_and_quality(run, tmp_path: Path) -> None:
    """`--summary` for plans too long to read: counts per enterprise and quality, the full plan one command away."""
    state = f"sqlite:///{tmp_path / 's.db'}"
    planned = run("plan", EXAMPLES, "--state", state, "--out", tmp_path / "p.plan", "--summary")
    assert planned.exit_code == 0
    lines = planned.stdout.splitlines()
    assert lines[0] == "reconciler will perform these changes (counts; the full plan lists each one):"
    assert "  0999.055.557  employer" in planned.stdout and "+3 ~0 -0" in planned.stdout
    assert "Plan: 928 to create, 0 to update, 0 to remove. 449 new accounts pending activation." in lines
    assert len(lines) < 25
    applied = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve", "--summary", "--defer-codes")
    assert applied.exit_code == 0 and len(applied.stdout.splitlines()) < 25
    assert "person[" not in applied.stdout
    assert "person[" in run("show", tmp_path / "p.plan").stdout  # the whole plan, one command away


def test_show_as_json_with_and_without_an_enterprise(run, store_url: str) -> None:
    """Both forms of `show --format json` are documents of schemas/show.schema.json, on both stores."""
    import json

    from conftest import ROOT
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads((ROOT / "schemas" / "show.schema.json").read_text()))
    run("apply", EXAMPLES / "small-employer.yaml", "--state", store_url, "--auto-approve", "--defer-codes")
    overview = json.loads(run("show", "--state", store_url, "--format", "json").stdout)
    assert list(validator.iter_errors(overview)) == []
    assert overview["enterprises"] == [
        {"number": "0999055557", "name": "Bakkerij De Gouden Korst", "version": 1, "qualities": 1, "users": 2}
    ]
    detail = json.loads(run("show", "0999.055.557", "--state", store_url, "--format", "json").stdout)
    assert list(validator.iter_errors(detail)) == []
    assert detail["kind"] == "enterprise" and {a["status"] for a in detail["accounts"]} == {"awaiting codes"}


def test_the_lazy_command_table_is_what_the_modules_register() -> None:
    """Commands are imported when run; the table naming each command's module must stay true."""
    import importlib

    import click

    from reconciler.cli import COMMANDS

    registered = {}
    for module in set(COMMANDS.values()):
        group = click.Group()
        importlib.import_module(f"reconciler.cli.{module}").register(group)
        registered.update(dict.fromkeys(group.commands, module))
    assert registered == COMMANDS


def test_validate_does_not_import_the_web_page_or_the_access_codes() -> None:
    """What a pre-commit hook pays for: validate imports only what checking needs."""
    import subprocess
    import sys

    code = (
        "import sys; from reconciler.cli import cli; cli.get_command(None, 'validate'); "
        "print(sorted(m for m in sys.modules if m.startswith(('reconciler.accounts', 'reconciler.web', 'flask'))))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_a_long_plan_is_printed_as_counts_unless_every_change_is_asked_for(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli import planning

    monkeypatch.setattr(planning, "LONG_PLAN", 10)  # the examples plan 928 changes
    state = f"sqlite:///{tmp_path / 's.db'}"
    counted = run("plan", EXAMPLES, "--state", state)
    assert counted.stdout.startswith("928 changes: printed as counts (every change: --full-text, or a plan saved")
    assert "person[" not in counted.stdout and "Plan: 928 to create" in counted.stdout
    saved = run("plan", EXAMPLES, "--state", state, "--out", tmp_path / "p.plan")
    assert f"every change: `reconciler show {tmp_path / 'p.plan'}`" in saved.stdout
    every = run("plan", EXAMPLES, "--state", state, "--full-text")
    assert "person[" in every.stdout and "printed as counts" not in every.stdout
    assert "person[" in run("show", tmp_path / "p.plan").stdout  # show prints every change
    assert json.loads(run("plan", EXAMPLES, "--state", state, "--format", "json").stdout)["changes"]
    monkeypatch.setattr(planning, "LONG_PLAN", 5000)
    assert "person[" in run("plan", EXAMPLES, "--state", state).stdout  # a plan people can read: every change
