"""Problems (diagnostics) in the formats CI and editors read: text, JSON, GitHub workflow commands, SARIF.

``reconciler validate --format`` and ``reconciler plan --format`` print them.  Only
``Diagnostic`` objects are read here.  Messages are already safe when they arrive (declared
values are quoted escaped by the declare stage) and are kept as they are; each format adds
only what its syntax needs: JSON escapes through ``json.dumps`` (then ``json_lines`` for the
control and format characters), GitHub's workflow commands percent-encode what they read.
The JSON document is described by ``schemas/problems.schema.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import suppress
from pathlib import PurePath
from urllib.parse import quote

from reconciler import __version__
from reconciler.declare.catalogue_file import CATALOGUE_RULES
from reconciler.declare.diagnostics import Diagnostic
from reconciler.declare.load import LOADING_RULES
from reconciler.declare.rules.registry import RULES
from reconciler.declare.schema import SCHEMA_RULES
from reconciler.plan.authority import AREAS
from reconciler.plan.document import FORMAT_VERSION
from reconciler.render.neutral import json_lines, text

__all__ = [
    "FORMATS",
    "problems_document",
    "render_github",
    "render_json",
    "render_problems",
    "render_sarif",
    "render_text",
]

FORMATS = ("text", "json", "github", "sarif")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"


def _count(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def render_text(problems: Sequence[Diagnostic]) -> str:
    """Compiler style, one line each (``path:line:column: RULE message``), then the count."""
    lines = [str(problem) for problem in problems]
    return "\n".join([*lines, f"{_count(len(problems), 'problem')} found."]) + "\n"


def problems_document(problems: Sequence[Diagnostic], files: int | None = None, enterprises: int | None = None) -> dict:
    """The problems as data; ``files`` and ``enterprises`` are counted when the files were valid."""
    summary: dict[str, int] = {"problems": len(problems)}
    if files is not None:
        summary["files"] = files
    if enterprises is not None:
        summary["enterprises"] = enterprises
    return {
        "format_version": FORMAT_VERSION,
        "problems": [
            {
                "path": p.position.path,
                "line": p.position.line,
                "column": p.position.column,
                "rule": p.rule,
                "message": p.message,
            }
            for p in problems
        ],
        "summary": summary,
    }


def _dumps(document: dict) -> str:
    """Readable UTF-8 JSON, control and format characters written as JSON escapes, as the plan is."""
    return json_lines(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def render_json(problems: Sequence[Diagnostic], files: int | None = None, enterprises: int | None = None) -> str:
    return _dumps(problems_document(problems, files, enterprises))


def _relative(path: str) -> str:
    """A path as CI tools want it: relative (to the working directory) and with forward slashes."""
    if PurePath(path).is_absolute():
        with suppress(ValueError):  # another drive on Windows: keep it absolute
            path = os.path.relpath(path)
    return path.replace("\\", "/")


def _escape_data(value: str) -> str:
    """GitHub's escaping of a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    """GitHub's escaping of a workflow command's property value."""
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Sequence[Diagnostic]) -> str:
    """One ``::error file=PATH,line=L,col=C,title=RULE::MESSAGE`` workflow command per problem.

    After GitHub's own escaping, any control or format character left (none, in the messages
    the tool writes) is written as its escape, so nothing can start another command or drive a log.
    """
    lines = []
    for p in problems:
        properties = ",".join(
            f"{name}={text(_escape_property(value))}"
            for name, value in (
                ("file", _relative(p.position.path)),
                ("line", str(p.position.line)),
                ("col", str(p.position.column)),
                ("title", p.rule),
            )
        )
        lines.append(f"::error {properties}::{text(_escape_data(p.message))}")
    return "".join(line + "\n" for line in lines)


def _rule_summaries() -> dict[str, str]:
    summaries = {**LOADING_RULES, **SCHEMA_RULES, **CATALOGUE_RULES}
    summaries.update({rule.id: rule.summary for rule in RULES.values()})
    summaries.update({area.id: f"who may change: {area.what}" for area in AREAS.values()})
    return summaries


def sarif_document(problems: Sequence[Diagnostic]) -> dict:
    """A SARIF 2.1.0 log: one run, the rules that appear (in order of appearance), one result per problem."""
    summaries = _rule_summaries()
    rule_ids = list(dict.fromkeys(p.rule for p in problems))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    rules = []
    for rule_id in rule_ids:
        rule: dict = {"id": rule_id}
        if rule_id in summaries:
            rule["shortDescription"] = {"text": summaries[rule_id]}
        rules.append(rule)
    results = [
        {
            "ruleId": p.rule,
            "ruleIndex": index[p.rule],
            "level": "error",
            "message": {"text": p.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": quote(_relative(p.position.path), safe="/")},
                        "region": {"startLine": p.position.line, "startColumn": p.position.column},
                    }
                }
            ],
        }
        for p in problems
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": "reconciler", "version": __version__, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def render_sarif(problems: Sequence[Diagnostic]) -> str:
    return _dumps(sarif_document(problems))


def render_problems(
    problems: Sequence[Diagnostic],
    output_format: str,
    files: int | None = None,
    enterprises: int | None = None,
) -> str:
    """The problems in one of ``FORMATS``; counts of files and enterprises only go into JSON."""
    if output_format == "json":
        return render_json(problems, files, enterprises)
    if output_format == "github":
        return render_github(problems)
    if output_format == "sarif":
        return render_sarif(problems)
    if output_format == "text":
        return render_text(problems)
    raise ValueError(f"unknown problem format {output_format!r}")
