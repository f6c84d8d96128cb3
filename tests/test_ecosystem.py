"""The files other tools read: the pre-commit hook and the CI examples use real commands and options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from conftest import ROOT

from reconciler.cli import cli

CI_FILES = sorted((ROOT / "examples" / "ci").glob("*.yml"))


def parses(words: list[str]) -> None:
    """Parse a reconciler command line as click would, without running it."""
    context = cli.make_context("reconciler", list(words), resilient_parsing=False)
    command, rest = context.command, words
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        command = command.get_command(context, name)
        assert command is not None, name
        context = command.make_context(name, list(rest), parent=context)


def reconciler_commands(text: str) -> list[list[str]]:
    """Every ``reconciler SUBCOMMAND ...`` invocation, with CI expressions and variables blanked."""
    text = re.sub(r"\$\{\{[^}]*\}\}", "X", text)  # GitHub expressions
    text = re.sub(r"\$\{actor:\+[^}]*\}", "", text)
    text = re.sub(r"\$\{?\w+\}?", "X", text)  # shell variables
    text = text.replace("\\\n", " ")
    pattern = r"\breconciler ((?:validate|plan|apply|show|export|codeowners|audit|lock|state|actor)\b[^\n>|)#]*)"
    return [shlex.split(match) for match in re.findall(pattern, text)]


def test_pre_commit_hook() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["reconciler-validate"]
    hook = hooks[0]
    assert hook["entry"] == "reconciler validate" and hook["pass_filenames"] is False
    parses([*hook["entry"].split()[1:], "enterprises/"])


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_ci_examples_are_yaml_and_call_real_commands(path) -> None:
    yaml.safe_load(path.read_text())
    commands = reconciler_commands(path.read_text())
    assert {c[0] for c in commands} == {"validate", "actor", "plan", "apply"}
    for words in commands:
        parses(words)


def text_of(value: object) -> str:
    """Every key and string in a parsed YAML value, one per line."""
    if isinstance(value, dict):
        return "\n".join(f"{key}: {text_of(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "\n".join(text_of(item) for item in value)
    return str(value)


def jobs(path: Path) -> dict[str, str]:
    """Each job's text, by job name."""
    document = yaml.safe_load(path.read_text())
    found = document.get("jobs", document)
    return {name: text_of(body) for name, body in found.items() if isinstance(body, dict)}


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_ci_examples_fail_closed(path: Path) -> None:
    """The plan job holds no key and no write access, always names its actor from the reviewed files,
    and fails on a gate; only the apply job, in a protected environment, writes, and only what was reviewed."""
    found = jobs(path)
    plan, apply = found["plan"], found["apply"]
    assert "RECONCILER_STATE_READ_ONLY" in plan
    for secret in (
        "RECONCILER_PLAN_KEY",
        "RECONCILER_AUDIT_KEY",
        "RECONCILER_SMTP_PASSWORD",
        "secrets.RECONCILER_STATE }}",
    ):
        assert secret not in plan, secret
    assert "reconciler actor" in plan and "base/enterprises/" in plan
    assert "--detailed-exitcode" in plan and '--actor "$' in plan
    assert "${actor:+" not in path.read_text()  # no silent fallback to planning without an actor
    assert "environment: access" in apply
    assert "--reviewed plan.json" in apply and '--actor "$' in apply and "RECONCILER_AUDIT_KEY" in path.read_text()
    assert "reconciler actor" in apply and "before/enterprises/" in apply  # the author found again, independently
    assert "approved-overrides.sh" in plan and "approved-overrides.sh" in apply  # labels only count when approved
    assert "pull-requests: write" not in plan  # the job that runs the pull request's files cannot label


def test_only_gate_flags_can_be_approved_by_a_label() -> None:
    script = (ROOT / "examples" / "ci" / "approved-overrides.sh").read_text()
    from reconciler.plan.gates import GATES

    gates = script.split("gates='", 1)[1].split("'", 1)[0].split("|")
    assert {f"--allow-{gate}" for gate in gates} == {gate.override for gate in GATES.values()}
    assert "audit" not in script.split("gates=", 1)[1].split("\n", 1)[0]


def test_no_color_in_pipes_and_files(run, tmp_path) -> None:
    result = run(
        "plan", ROOT / "examples" / "enterprises" / "small-employer.yaml", "--state", f"sqlite:///{tmp_path / 's.db'}"
    )
    assert "\x1b[" not in result.stdout


def test_color_on_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.cli import common

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert common.use_color(Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not common.use_color(Terminal())


def test_the_changelog_and_the_version_agree(run) -> None:
    """`--version` prints the latest released version of CHANGELOG.md."""
    from reconciler import __version__

    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert released and released[0] == __version__
    assert run("--version").stdout.strip().endswith(__version__)


def test_the_licence_is_the_one_declared() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()


def test_the_hook_runs_on_every_commit() -> None:
    """A commit that only deletes a file changes no YAML file pre-commit would pass: the hook must run anyway."""
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    assert hook["always_run"] is True and hook["pass_filenames"] is False
