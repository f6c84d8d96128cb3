"""Shared fixtures: stores to run against, the CLI, and paths to fixtures and examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.store import open_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "enterprises"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--update-golden")


STORE_KINDS = ["sqlite"]


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a fresh, empty store of each kind."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def store(store_url: str):
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Invoke the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare with a golden file, or rewrite it under ``--update-golden`` (``make golden``)."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not update:
            pytest.fail(f"{path} did not exist and was written; review and commit it")
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs; run `make golden` if intended"
