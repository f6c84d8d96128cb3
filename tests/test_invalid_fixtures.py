"""One invalid fixture per error path: exact messages, exact positions, exit 1, no traceback.

Each ``tests/fixtures/invalid/NAME`` (a file, or a folder of files) has ``NAME.expected``
beside it holding the exact diagnostics ``reconciler validate NAME`` prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.declare.load import LOADING_RULES
from reconciler.declare.rules.registry import RULES
from reconciler.declare.schema import SCHEMA_RULES

INVALID = Path(__file__).resolve().parent / "fixtures" / "invalid"
FIXTURES = sorted(p.name for p in INVALID.iterdir() if p.suffix != ".expected")


def expected_lines(name: str) -> list[str]:
    return (INVALID / f"{Path(name).stem if name.endswith('.yaml') else name}.expected").read_text().splitlines()


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_reports_exactly_its_problems(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    result = CliRunner().invoke(cli, ["validate", name])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    expected = expected_lines(name)
    assert lines[:-1] == expected
    assert lines[-1] == f"{len(expected)} problem{'s' if len(expected) != 1 else ''} found."


def test_every_rule_has_a_failing_fixture() -> None:
    reported = set()
    for name in FIXTURES:
        for line in expected_lines(name):
            reported.add(line.split(": ", 2)[1].split(" ", 1)[0])
    every_rule = set(RULES) | set(SCHEMA_RULES) | set(LOADING_RULES)
    assert every_rule - reported == set()


@pytest.mark.parametrize(
    "name",
    [
        "y005_binary.yaml",
        "y001_syntax.yaml",
        "s003_unquoted_ssin.yaml",
        "y001_deep_nesting.yaml",  # rapidyaml printed its own C++ errors here
        "y001_impossible_date.yaml",  # a traceback (ValueError: day is out of range for month)
        "y007_tags.yaml",
        "s006_raw_control_characters.yaml",
        "y005_links",
    ],
)
def test_real_process_prints_no_traceback(name: str) -> None:
    """Nothing but the findings reaches stderr: no traceback, and nothing a parser prints itself."""
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", name], cwd=INVALID, capture_output=True, text=True
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.splitlines()[:-1] == expected_lines(name)
