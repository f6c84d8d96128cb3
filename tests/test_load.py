"""The loader: positions, duplicate keys, YAML 1.1 surprises, and files that are not YAML at all."""

from pathlib import Path

import pytest

from reconciler.declare.load import load_text
from reconciler.declare.reading import load_file, load_paths


def test_positions_of_values_and_keys() -> None:
    document, problems = load_text("a:\n  b: [1, 2]\n  c:\n    - x: y\n", "f.yaml")
    assert problems == []
    assert document.data == {"a": {"b": [1, 2], "c": [{"x": "y"}]}}
    assert str(document.position(("a", "b", 1))) == "f.yaml:2:10"
    assert str(document.position(("a", "c", 0, "x"))) == "f.yaml:4:10"
    assert str(document.position(("a", "c", 0, "x"), key=True)) == "f.yaml:4:7"
    # An unknown path falls back to its nearest known parent.
    assert str(document.position(("a", "c", 0, "missing"))) == "f.yaml:4:7"


def test_plain_scalars_read_as_non_text_keep_their_source() -> None:
    document, _ = load_text("a: 0123\nb: no\nc: '0123'\nd: 1:20\ne: text\n", "f.yaml")
    assert document.data == {"a": 83, "b": False, "c": "0123", "d": 80, "e": "text"}
    assert document.source_text(("a",)) == "0123"
    assert document.source_text(("b",)) == "no"
    assert document.source_text(("d",)) == "1:20"
    assert document.source_text(("c",)) is None
    assert document.source_text(("e",)) is None


CASES = [
    ("duplicate key", "a: 1\nb: 2\na: 3\n", 'f.yaml:3:1: Y002 duplicate key "a" (first at line 1)'),
    (
        "syntax",
        "a: [1, 2\nb: 3\n",
        "f.yaml:2:2: Y001 invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)",
    ),
    (
        "tab indentation",
        "a:\n\tb: 1\n",
        "f.yaml:2:1: Y001"
        " invalid YAML: found character that cannot start any token (while scanning for the next token)",
    ),
    (
        "two documents",
        "a: 1\n---\nb: 2\n",
        "f.yaml:2:1: Y001 invalid YAML: expected a single document in the stream, but found another document",
    ),
    ("empty", "", "f.yaml:1:1: Y004 the file is empty"),
    ("only comments", "# nothing\n", "f.yaml:1:1: Y004 the file holds no YAML document"),
    ("number as key", "1: a\n", 'f.yaml:1:1: Y003 key 1 is not text in YAML; quote it: "1"'),
    ("boolean as key", "no: a\n", 'f.yaml:1:1: Y003 key no is not text in YAML; quote it: "no"'),
    (
        "merge key",
        "base: &b {x: 1}\nc:\n  <<: *b\n",
        "f.yaml:3:3: Y006 merge keys (<<) are not supported; write the fields out",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_loading_problems(name: str, text: str, expected: str) -> None:
    _, problems = load_text(text, "f.yaml")
    assert [str(p) for p in problems] == [expected]


def test_alias_bomb_is_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    document, problems = load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert document is None
    assert [p.rule for p in problems] == ["Y006"]


def test_honest_aliases_are_expanded() -> None:
    document, problems = load_text("std: &s [dimona, dmfa]\nu: *s\n", "f.yaml")
    assert problems == []
    assert document.data["u"] == ["dimona", "dmfa"]


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"a: 1\nb: \x89PNG\r\n\x1a\n\x00\x00")
    document, problems = load_file(path)
    assert document is None
    assert [(p.rule, p.message) for p in problems] == [("Y005", "not UTF-8 text (is it a binary file?)")]
    assert (problems[0].position.line, problems[0].position.column) == (2, 4)


def test_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"a: 1\x00\n")
    _, problems = load_file(path)
    assert [(p.rule, p.message) for p in problems] == [("Y005", "not a text file (it holds NUL bytes)")]


def test_unreadable_file(tmp_path: Path) -> None:
    # Tests run as root, who can read any file; a folder where a file is expected fails the same way.
    path = tmp_path / "folder.yaml"
    path.mkdir()
    document, problems = load_file(path)
    assert document is None
    assert [(p.rule, p.message) for p in problems] == [("Y005", "cannot read file: Is a directory")]


def test_missing_path_and_folder_discovery(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("b: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text("a: 1\n")
    (tmp_path / "notes.txt").write_text("ignored\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\n")  # a workflow, not a declaration
    documents, problems = load_paths([tmp_path, tmp_path / "missing.yaml"])
    assert [Path(d.path).name for d in documents] == ["b.yaml", "a.yml"]
    hidden, _ = load_paths([tmp_path / ".github" / "workflows"])  # named explicitly: read
    assert [Path(d.path).name for d in hidden] == ["ci.yml"]
    assert [(p.rule, p.message) for p in problems] == [("Y005", "no such file or folder")]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    _, problems = load_text("[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    assert [p.rule for p in problems] == ["Y001"]
