"""The catalogue as data the user owns: reconciler.yaml or --catalogue, checked, and followed everywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconciler.cli import cli
from reconciler.cli.docs import catalogue_table
from reconciler.declare.catalogue import activate, load_catalogue, shipped_catalogue
from reconciler.declare.catalogue_file import find_user_file, use_catalogue
from reconciler.declare.schema import enterprise_schema, is_valid
from reconciler.plan.incremental import catalogue_sha

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SMALL = HERE.parent / "examples" / "enterprises" / "small-employer.yaml"

USER_CATALOGUE = """\
# A quality the shipped catalogue does not know yet, with a service of its own.
services:
  harbour-register:
    en: Harbour workers register
    structured_messages: true
qualities:
  harbour-employer:
    en: Employer of harbour workers
    requires: [nsso_number]
    services: [dimona, harbour-register]
"""


@pytest.fixture(autouse=True)
def shipped_afterwards():
    """The catalogue in effect is process-wide: leave the shipped one for the next test."""
    yield
    activate(None)


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def harbour_enterprise(folder: Path) -> Path:
    text = SMALL.read_text(encoding="utf-8").replace("code: employer", "code: harbour-employer")
    text = text.replace("services: [dimona, dmfa]", "services: [dimona, harbour-register]")
    text = text.replace("services: [checkinatwork]", "services: [dimona]")
    folder.mkdir()
    (folder / "harbour.yaml").write_text(text, encoding="utf-8")
    return folder


def test_a_quality_added_by_the_user_goes_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    declared = harbour_enterprise(tmp_path / "enterprises")
    state = f"sqlite:///{tmp_path / 's.db'}"
    letters = f"letters:{tmp_path / 'letters'}"
    refused = run("validate", declared)
    assert refused.exit_code == 1 and 'S004 "harbour-employer" is not a known quality' in refused.stderr
    (tmp_path / "reconciler.yaml").write_text(USER_CATALOGUE, encoding="utf-8")  # found in the working directory
    assert run("validate", tmp_path).exit_code == 0  # reconciler.yaml itself is not an enterprise file
    planned = run("plan", declared, "--state", state, "--detailed-exitcode")
    assert planned.exit_code == 2, planned.stderr
    assert "harbour-employer" in planned.stdout
    assert run("apply", declared, "--state", state, "--auto-approve", "--delivery", letters).exit_code == 0
    exported = run("export", "--state", state, "--out", tmp_path / "out")
    assert exported.exit_code == 0
    schema = json.loads((tmp_path / "out" / "enterprise.schema.json").read_text(encoding="utf-8"))
    assert "harbour-employer" in schema["$defs"]["Quality"]["properties"]["code"]["enum"]
    first = (tmp_path / "out" / "0999055557.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=enterprise.schema.json"
    again = run("plan", tmp_path / "out", "--state", state, "--detailed-exitcode", "--full")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert run("plan", declared, "--state", state, "--detailed-exitcode").exit_code == 0
    # The same file named with --catalogue, from a folder where none would be found.
    (tmp_path / "reconciler.yaml").rename(tmp_path / "harbour-catalogue.yml")
    monkeypatch.chdir(declared)
    assert run("validate", declared, "--catalogue", tmp_path / "harbour-catalogue.yml").exit_code == 0
    assert run("validate", declared).exit_code == 1


def test_export_names_a_schema_url_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    state = f"sqlite:///{tmp_path / 's.db'}"
    assert run("apply", SMALL, "--state", state, "--auto-approve", "--delivery", f"letters:{tmp_path}/l").exit_code == 0
    url = "https://example.org/enterprise.schema.json"
    assert run("export", "--state", state, "--out", tmp_path / "out", "--schema-url", url).exit_code == 0
    assert not (tmp_path / "out" / "enterprise.schema.json").exists()
    first = (tmp_path / "out" / "0999055557.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema={url}"


def test_everything_follows_the_effective_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(USER_CATALOGUE, encoding="utf-8")
    shipped_digest = catalogue_sha()
    catalogue = use_catalogue(path)
    assert load_catalogue() is catalogue and "harbour-employer" in catalogue.qualities
    assert "employer" in catalogue.qualities  # the shipped ones stay
    assert catalogue_sha() != shipped_digest  # incremental planning plans everything again
    assert "harbour-employer" in enterprise_schema()["$defs"]["Quality"]["properties"]["code"]["enum"]
    assert "`harbour-employer`" in catalogue_table()
    document = {"enterprise": {"number": "0999055557"}, "qualities": [{"code": "harbour-employer"}]}
    assert is_valid(document) and not is_valid(document, shipped_catalogue())
    path.write_text(USER_CATALOGUE.replace("dimona, harbour", "dmfa, harbour"), encoding="utf-8")
    assert use_catalogue(path).digest != catalogue.digest  # any change to the user's file counts


def test_an_override_replaces_the_shipped_entry(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("qualities:\n  mandatary:\n    en: Mandatary\n    services: [dimona]\n", encoding="utf-8")
    assert use_catalogue(path).qualities["mandatary"].services == frozenset({"dimona"})
    assert use_catalogue(path).qualities["mandatary"].nl == "Mandatary"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("qualities:\n  x:\n    en: X\n    services: [dimona]\n    nmae: y\n", ':5:5: S001 unknown field "nmae"'),
        ("qualities:\n  x:\n    en: X\n", ':3:5: S002 missing required field "services"'),
        (
            "qualities:\n  x:\n    en: X\n    services: [dimona, nope]\n",
            ":4:24: C001 quality 'x' offers unknown services: nope",
        ),
        ("services:\n  s:\n    en: S\n    structured_messages: yes\n", ":4:26: S003"),
        ("qualities:\n  Bad Code:\n    en: X\n    services: []\n", ":2:3: S004"),
        ("qualities: [\n", ":2:1: Y001"),
        ("qualities:\n  x:\n    en: X\n    requires: [vat_number]\n    services: []\n", ":4:16: S004"),
    ],
)
def test_a_broken_catalogue_file_is_reported_with_positions_and_rule_ids(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(text, encoding="utf-8")
    result = run("validate", SMALL)
    assert result.exit_code == 1
    assert f"reconciler.yaml{expected}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_user_file_is_found_up_to_the_repository_root(tmp_path: Path) -> None:
    deep = tmp_path / "repo" / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    assert find_user_file(deep) is None
    (tmp_path / "reconciler.yaml").write_text("{}\n")  # above the repository: not its catalogue
    assert find_user_file(deep) is None
    (tmp_path / "repo" / "reconciler.yaml").write_text("{}\n")
    assert find_user_file(deep) == tmp_path / "repo" / "reconciler.yaml"
    (deep / "reconciler.yaml").write_text("{}\n")
    assert find_user_file(deep) == deep / "reconciler.yaml"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert find_user_file(outside) is None  # outside a repository: the working directory only


def test_the_catalogue_schema_accepts_the_shipped_catalogue() -> None:
    import yaml

    schema = json.loads(run("schema", "catalogue").stdout)
    shipped = yaml.safe_load((HERE.parent / "reconciler" / "declare" / "catalogue.yaml").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(shipped)) == []


def test_schema_command_follows_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(USER_CATALOGUE, encoding="utf-8")
    printed = json.loads(run("schema", "--catalogue", path).stdout)
    assert "harbour-employer" in printed["$defs"]["Quality"]["properties"]["code"]["enum"]
    shutil.rmtree(tmp_path)


def test_the_portal_qualities_file_reads_as_a_user_catalogue() -> None:
    catalogue = use_catalogue(ROOT / "examples" / "catalogue" / "portal-qualities.yaml")
    assert {"social-insurance-fund", "work-accident-insurer"} <= catalogue.qualities.keys()
