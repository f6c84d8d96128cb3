"""The files other tools read: the pre-commit hook and the CI examples use real commands and options."""

from __future__ import annotations

import re
import shlex

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
    pattern = r"\breconciler ((?:validate|plan|apply|show|export|codeowners|audit|lock|state)\b[^\n>|]*)"
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
    assert {c[0] for c in commands} == {"validate", "plan", "apply"}
    for words in commands:
        parses(words)


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
