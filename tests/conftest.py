"""Shared fixtures: stores to run against, the CLI, and paths to fixtures and examples."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.store.backends import open_store
from reconciler.store.postgresql import split_url

# Argon2 at full cost would spend most of the suite hashing; one test checks the real costs.
os.environ.setdefault("RECONCILER_ARGON2_PROFILE", "cheapest")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "enterprises"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture(autouse=True)
def outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests name their stores; CI's own ``CI=true`` must not make the default store an error in them.
    validate's cache goes to the test's own folder, never into the fixtures a test validates."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path / ".reconciler" / "cache"))


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--update-golden")


STORE_KINDS = ["sqlite", "postgresql"]
POSTGRES = os.environ.get("RECONCILER_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


def new_store_url(kind: str, tmp_path: Path) -> str:
    """A URL to a fresh, empty registry: a file, or a schema of its own in the test database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:8]}.db'}"
    return f"{POSTGRES}?schema=t_{uuid.uuid4().hex[:12]}"


def drop_store(url: str) -> None:
    if url.startswith("postgresql"):
        conninfo, schema = split_url(url)
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def outside_write(url: str, statement: str) -> None:
    """A write made with another tool, as a person editing rows by hand would."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("://", 1)[1][1:]) as db:
            db.execute(statement)
        return
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(f'SET search_path TO "{schema}"')
        db.execute(statement)


def bypass_append_only(url: str, statement: str) -> None:
    """What only someone with full control of the database could do."""
    if url.startswith("sqlite"):
        for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_runs_no_update", "audit_runs_no_delete"):
            outside_write(url, f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        outside_write(url, "ALTER TABLE audit_log DISABLE TRIGGER USER")
        outside_write(url, "ALTER TABLE audit_runs DISABLE TRIGGER USER")
    outside_write(url, statement)


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A URL to a fresh, empty store of each kind, removed afterwards."""
    url = new_store_url(request.param, tmp_path)
    yield url
    drop_store(url)


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


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A registry of two enterprises in a folder of its own under the test's working directory
    (``run`` works in tmp_path): the small employer and the secretariat split over four files."""
    root = tmp_path / "registry"
    shutil.copytree(EXAMPLES / "social-secretariat", root / "social-secretariat")
    shutil.copy(EXAMPLES / "small-employer.yaml", root / "small-employer.yaml")
    return root


@pytest.fixture
def patched_enterprises(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The enterprises planned from their changed files alone (``plan.patch``), in the order planned."""
    import reconciler.plan.pipeline

    found: list[str] = []
    real = reconciler.plan.pipeline.patch_enterprise

    def counting(number, *arguments, **keywords):
        planned = real(number, *arguments, **keywords)
        if planned is not None:
            found.append(number)
        return planned

    monkeypatch.setattr(reconciler.plan.pipeline, "patch_enterprise", counting)
    return found
