"""Differential test: the fast path and the reference loader agree on everything the schema accepts.

Documents are generated with values that YAML 1.1 reads in surprising ways (``no``, ``On``,
``0123``, ``1:20``, dates, ``~``, ``.inf``), written plain, single- or double-quoted, in block
or flow style.  Whenever the fast path accepts a document that passes the schema, PyYAML
must read it without problems and produce the very same data.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.declare.fastload import load_fast
from reconciler.declare.load import load_text
from reconciler.declare.schema import is_valid
from reconciler.plan.desired import load_desired
from tests.conftest import EXAMPLES

TRAPS = [
    "no",
    "No",
    "NO",
    "yes",
    "On",
    "off",
    "y",
    "n",
    "True",
    "TRUE",
    "true",
    "false",
    "null",
    "Null",
    "~",
    "0123",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1:20",
    "190:20:30",
    "1.5",
    ".5",
    "1e3",
    "-1",
    "+1",
    ".inf",
    "-.inf",
    ".NaN",
    "2026-01-01",
    "2001-12-14 21:59:43.10 -5",
    "=",
    "<<",
    "3M",
    "Jean-Luc",
    "Anne Marie",
    "O'Neil",
    "a # not a comment",
    "Smith & Co",
    "x*y",
    "!important",
    "%percent",
    "@handle",
    "émile",
    "85073003328",
    "0999055557",
    # Characters rule S006 refuses, and their neighbours that it allows.
    "Els\x1b[31m",
    "a\u202eb",
    "a\u2066b\u2069",
    "a\x7fb",
    "a\x9bb",
    "a\u2028b",
    "zero\u200bwidth",
    "tab\there",
    "back\\slash",
    "! bang",
]
SSINS = ["85073003328", "58022754967", "05041212367", "61061906014"]


def render(value: str, style: str) -> str:
    if style == "double":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\x1b", "\\e") + '"'
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    return value


scalars = st.tuples(st.sampled_from(TRAPS), st.sampled_from(["plain", "plain", "single", "double"]))


@st.composite
def documents(draw) -> str:
    style = lambda: draw(st.sampled_from(["plain", "single", "double"]))  # noqa: E731
    name = draw(scalars)
    lines = [
        "enterprise:",
        f"  number: {render('0999.055.557', style())}",
        f"  name: {render(*name)}",
        "main_access_manager:",
        f"  ssin: {render(SSINS[0], style())}",
        f"  name: {render(*draw(scalars))}",
        "  email: a@b.example",
        "qualities:",
        "  - code: employer",
    ]
    default = draw(st.sampled_from(["true", "True", "yes", "on", '"true"', "false", "TRUE"]))
    lines.append(f"    default: {default}")
    lines.append(f"    nsso_number: {render('010-4521873-24', style())}")
    if draw(st.booleans()):
        lines.append("    users:")
        for ssin in draw(st.lists(st.sampled_from(SSINS), max_size=3)):
            services = draw(st.lists(st.sampled_from(["dimona", "dmfa", "no", "On"]), max_size=2, unique=True))
            if draw(st.booleans()):
                lines += [
                    f"      - ssin: {render(ssin, style())}",
                    f"        name: {render(*draw(scalars))}",
                    "        email: u@b.example",
                    f"        services: [{', '.join(services)}]",
                ]
            else:
                lines += [
                    f"      - {{ssin: {render(ssin, style())}, name: {render(*draw(scalars))}, "
                    f"email: u@b.example, services: [{', '.join(services)}]}}"
                ]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "# a comment: no 0123")
    return "\n".join(lines) + "\n"


# Constructs the official YAML test suite found the two readers disagreeing on (see
# tests/test_yaml_suite.py): each is spliced into a generated document, so that the next
# such class is found here.
BLOCK_NAMES = ["|\n    Jan\n   \n", ">\n    Jan\n\n    Mertens\n  \n", "|-\n    \tJan\n", "|\n    x\n     "]


CLEAN = """enterprise:
  number: "0999.055.557"
  name: Bakkerij De Gouden Korst
main_access_manager:
  ssin: "75031366754"
  name: Els Mertens
  email: els@goudenkorst.example
qualities:
  - code: employer
    default: true
    nsso_number: "010-4521873-24"
    users:
      - {ssin: "58022754967", name: Jan Mertens, email: jan@goudenkorst.example, services: [dimona]}
"""


@st.composite
def odd_documents(draw) -> str:
    base = CLEAN if draw(st.booleans()) else draw(documents())
    lines = base.rstrip("\n").split("\n")
    where = draw(st.integers(1, len(lines) - 1))
    indent = " " * draw(st.integers(0, 6))
    kind = draw(st.sampled_from(["tab", "block", "flow", "blank end", "glued comment", "empty key", "quoted lines"]))
    if kind == "tab":
        line = lines[where]
        at = draw(st.integers(0, len(line)))
        lines[where] = line[:at] + "\t" + line[at:]
    elif kind == "block":
        lines[2] = "  name: " + draw(st.sampled_from(BLOCK_NAMES)).rstrip("\n")
    elif kind == "flow":
        lines.insert(where, f"{indent}extra: [a,\n{' ' * draw(st.integers(0, 6))}b]")
    elif kind == "blank end":
        lines.append(draw(st.sampled_from(["", " ", "  ", "\n", " \n "])))
    elif kind == "glued comment":
        lines[2] = '  name: "Jan"#' + draw(st.sampled_from(["", " note", "#"]))
    elif kind == "empty key":
        lines.insert(where, f"{indent}: {draw(st.sampled_from(['x', '', ':x']))}")
    else:
        lines[2] = '  name: "Jan\n' + " " * draw(st.integers(0, 4)) + 'Mertens"'
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\n  \n"]))


def agree(text: str) -> None:
    """Whenever the fast path vouches, the reference loader accepts and reads the same data."""
    fast = load_fast(text.encode("utf-8"), "f.yaml")
    if fast is not None:
        reference, problems = load_text(text, "f.yaml")
        assert reference is not None and not problems, problems
        assert reference.data == fast.data


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_documents())
def test_the_suites_constructs_never_split_the_readers(text: str) -> None:
    agree(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=":-?[]{},#&*!|>'\"%@` \t\nab", min_size=1, max_size=3))
def test_streams_of_a_few_characters_never_split_the_readers(text: str) -> None:
    agree(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_fast_path_agrees_with_pyyaml(text: str) -> None:
    fast = load_fast(text.encode(), "doc.yaml")
    reference, problems = load_text(text, "doc.yaml")
    if fast is not None and is_valid(fast.data):
        assert problems == []
        assert reference is not None and reference.data == fast.data
        assert is_valid(reference.data)


@pytest.mark.parametrize(
    "flow",
    [
        "      - {ssin: '85073003328', name: a # not a comment, email: u@b.example, services: []}\n",
        "      - {ssin: '85073003328', name: a, # a comment\n         email: u@b.example, services: []}\n",
        "      - ssin: '85073003328'\n        services: [dimona,\n                   dmfa]\n",
    ],
)
def test_comments_and_line_breaks_in_flow_collections_go_to_the_reference_loader(flow: str) -> None:
    """Found by the property test: rapidyaml reads "a # not a comment" in a flow mapping as text."""
    text = "enterprise:\n  number: '0999.055.557'\nqualities:\n  - code: employer\n    users:\n" + flow
    assert load_fast(text.encode(), "doc.yaml") is None


def test_unquoted_numbers_go_to_the_reference_loader() -> None:
    text = "enterprise:\n  number: 0123\n"
    assert load_fast(text.encode(), "x.yaml") is None
    assert load_fast(b'enterprise:\n  number: "0123"\n', "x.yaml") is not None


def test_duplicate_keys_go_to_the_reference_loader() -> None:
    assert load_fast(b"enterprise:\n  number: '1'\n  number: '2'\n", "x.yaml") is None


# Everything the reference loader refuses or reports must go to it: the fast path never vouches for it.

REFERENCE_ONLY = [
    "a: ! abc\n",  # the non-specific tag: both readers read "abc", only the reference loader reports it
    "a: !!python/object/apply:os.system [dimona]\n",
    "a: !foo {b: 1}\n",
    "!foo a: b\n",
    'a: "\\0"\n',
    'a: "\\e[31m"\n',
    'a: "\\u202e"\n',
    "a: x\x1by\n",
    "a: x\u202ey\n",
    "# \u2066 a comment\na: b\n",
    "a: x\x85y\n",
    "a: x\u2028y\n",
    "a: x\ry\n",  # a lone carriage return: PyYAML breaks the line there, rapidyaml drops it
    "a: |\n  x\n  y\n",  # a block scalar keeps its line feeds
    "a: >\n  x\n\n  y\n",
    "a: 'x\n\n  y'\n",  # a blank line in a quoted scalar is a line feed
]


@pytest.mark.parametrize("text", REFERENCE_ONLY)
def test_tags_and_control_characters_go_to_the_reference_loader(text: str) -> None:
    assert load_fast(text.encode(), "x.yaml") is None


def test_the_two_readers_report_control_characters_alike(tmp_path: Path) -> None:
    lines = (EXAMPLES / "small-employer.yaml").read_text().splitlines(keepends=True)
    for index, line in enumerate(lines):
        if "name: Jan Mertens" in line:
            lines[index] = line.replace("Jan Mertens", '"Jan\\eMertens"')
        if "name: Els Mertens" in line and "main" not in line:
            lines[index] = line.replace("Els Mertens", "Els\u202eMertens")
    path = tmp_path / "small.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    _, fast_problems = load_desired([path], fast=True)
    _, exact_problems = load_desired([path], fast=False)
    assert [str(p) for p in fast_problems] == [str(p) for p in exact_problems]
    assert {p.rule for p in fast_problems} == {"S006"} and len(fast_problems) >= 2


def test_rapidyaml_never_writes_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    """rapidyaml printed its own C++ errors (with its source path) on deeply nested input."""
    for text in ("[" * 10_000 + "]" * 10_000 + "\n", "a: " + "{a: " * 100 + "}" * 100 + "\n", "a: [b\n"):
        assert load_fast(text.encode(), "deep.yaml") is None
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_deep_nesting_is_one_clean_finding(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n")
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", path.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        "deep.yaml:1:1003: Y001 invalid YAML: exceeded maximum nesting depth (while increasing flow level)",
        "1 problem found.",
    ]


def test_the_trap_scan_takes_linear_time() -> None:
    """A line of many "[" made one of the scan's patterns quadratic: 20,000 took 6 s, a million hours."""
    script = "from reconciler.declare.fastload import has_trap; has_trap(b'a: ' + b'[' * 200_000 + b']' * 200_000)"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert time.monotonic() - started < 30
