"""The JSON Schemas: generated from the models and the catalogue, shipped in the package, published
in schemas/ as identical copies, printed by `reconciler schema`, and in agreement with the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from reconciler.cli import cli
from reconciler.cli.docs import generated_schemas, render_readme
from reconciler.declare.catalogue import shipped_catalogue
from reconciler.declare.model import EnterpriseDocument
from reconciler.declare.reading import load_paths
from reconciler.declare.schema import schema_text, validate_document

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def test_schema_on_disk_is_generated_from_the_models() -> None:
    on_disk = (ROOT / "schemas" / "enterprise.schema.json").read_text(encoding="utf-8")
    assert on_disk == schema_text(shipped_catalogue()), "run `make docs` to regenerate schemas/enterprise.schema.json"


@pytest.mark.parametrize(
    "name",
    ["enterprise.schema.json", "plan.schema.json", "catalogue.schema.json", "problems.schema.json", "show.schema.json"],
)
def test_published_schemas_are_the_packaged_ones_and_current(name: str) -> None:
    packaged = (ROOT / "reconciler" / "schemas" / name).read_text(encoding="utf-8")
    assert (ROOT / "schemas" / name).read_text(encoding="utf-8") == packaged, "run `make docs`"
    assert generated_schemas()[name] == packaged, "run `make docs`"


@pytest.mark.parametrize("name", ["enterprise", "plan", "catalogue", "problems", "show"])
def test_schema_command_prints_each_schema_from_the_package(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no checkout around: the schemas come from the installed package
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0, result.output
    assert result.stdout == (ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    Draft202012Validator.check_schema(json.loads(result.stdout))


def test_readme_generated_sections_are_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == render_readme(readme), "run `make docs` to regenerate the README's tables"


@pytest.mark.parametrize(
    "name",
    ["enterprise.schema.json", "plan.schema.json", "catalogue.schema.json", "problems.schema.json", "show.schema.json"],
)
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(json.loads((ROOT / "schemas" / name).read_text()))


def _properties(node: object, path: str = "#"):
    """Every field the schema defines; the catalogue's if/then only narrow fields defined elsewhere."""
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield f"{path}/{key}", value
        for key, value in node.items():
            if key not in ("allOf", "if", "then"):
                yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{path}/{index}")


def test_every_field_has_a_title_and_a_description() -> None:
    schema = json.loads(schema_text())
    missing = [path for path, prop in _properties(schema) if not (prop.get("title") and prop.get("description"))]
    assert missing == []


def _documents(folder: Path):
    documents, _ = load_paths([folder])
    return documents


def test_models_accept_what_the_schema_accepts() -> None:
    documents = _documents(FIXTURES / "valid") + _documents(ROOT / "examples" / "enterprises")
    assert documents
    for document in documents:
        assert validate_document(document) == []
        EnterpriseDocument.model_validate(document.data)


def test_models_reject_what_the_schema_rejects() -> None:
    """Except what depends on the catalogue in effect (codes, per-quality constraints), the YAML 1.1
    booleans, and a user's list naming an item twice: the models know none of them, the schema built
    for the catalogue does, and every document passes it before it becomes a model."""
    catalogue_rules = {"H008", "H009", "H011", "H016"}
    rejected = [
        d
        for d in _documents(FIXTURES / "invalid")
        if (found := validate_document(d))
        and not any(p.rule in catalogue_rules or "is not a known quality" in p.message for p in found)
        and not any(p.message.startswith("YAML 1.1 reads") for p in found)
        and not any(p.rule == "S005" for p in found)
    ]
    assert len(rejected) >= 12
    for document in rejected:
        with pytest.raises(ValidationError):
            EnterpriseDocument.model_validate(document.data)


def test_every_example_names_the_schema() -> None:
    for path in sorted((ROOT / "examples" / "enterprises").rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == ROOT / "schemas" / "enterprise.schema.json", path
