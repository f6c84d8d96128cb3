"""The loader: positions, duplicate keys, YAML 1.1 surprises, and files that are not YAML at all."""

import os
import resource
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.declare import reading
from reconciler.declare.load import load_text
from reconciler.declare.reading import discover, load_file, load_paths
from reconciler.plan.desired import load_desired


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
        "noncharacter",
        "a: b\ufffe\n",
        "f.yaml:1:5: Y001 invalid YAML: the character \\ufffe is not allowed in YAML text",
    ),
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


def test_a_folder_given_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.yaml"
    path.mkdir()
    document, problems = load_file(path)
    assert document is None
    assert [(p.rule, p.message) for p in problems] == [
        ("Y005", "not a regular file but a folder; name YAML files or folders")
    ]


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


# Paths that are not regular files: refused at once, never blocking, never read unbounded.


def validate_in_a_process(*paths: str | Path, cwd: Path, seconds: float = 60) -> subprocess.CompletedProcess:
    """``reconciler validate`` in its own process, with a deadline and at most 4 GB of memory:
    before these checks a named pipe blocked for ever and /dev/zero filled memory."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=seconds,
        preexec_fn=limit_memory,
    )


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "folder" / "inside.yaml")
    completed = validate_in_a_process("pipe.yaml", "folder", cwd=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        "folder/inside.yaml:1:1: Y005 not a regular file but a named pipe (FIFO); name YAML files or folders",
        "pipe.yaml:1:1: Y005 not a regular file but a named pipe (FIFO); name YAML files or folders",
        "2 problems found.",
    ]


def test_a_pipe_swapped_in_after_discovery_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    os.mkfifo(path)
    found: list = []
    # In a thread: opening a pipe for reading used to wait for a writer, for ever.
    reader = threading.Thread(target=lambda: found.append(load_file(path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert found, "load_file blocked on a named pipe"
    document, problems = found[0]
    assert document is None
    assert [(str(p.position), p.rule) for p in problems] == [(f"{path}:1:1", "Y005")]


@pytest.mark.parametrize(("device", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_devices_are_refused_without_reading(tmp_path: Path, device: str, kind: str) -> None:
    completed = validate_in_a_process(device, cwd=tmp_path)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert (
        completed.stderr.splitlines()[0]
        == f"{device}:1:1: Y005 not a regular file but {kind}; name YAML files or folders"
    )


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "listening.yaml"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        files, problems = discover([path])
        document, found = load_file(path)
    assert files == [] and document is None
    expected = [("Y005", "not a regular file but a socket; name YAML files or folders")]
    assert [(p.rule, p.message) for p in problems] == [(p.rule, p.message) for p in found] == expected


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(reading.MAX_FILE_BYTES + 1)  # sparse: nothing is written, nothing must be read
    document, problems = load_file(path)
    assert document is None
    assert [(p.rule, p.message) for p in problems] == [
        ("Y005", "the file is larger than 16 MiB (16,777,217 bytes or more); split the enterprise over several files")
    ]


def test_reading_stops_at_the_limit_when_the_size_is_not_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of /proc say they hold nothing, and a file may grow while it is read: the read itself stops."""
    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 100)
    with pytest.raises(reading.NotReadable, match="larger than"):
        reading.read_bytes("/proc/self/maps")
    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 1 << 20)
    assert reading.read_bytes("/proc/self/maps")  # under the limit: read whole, though its size says 0


def test_looping_and_dangling_links_in_a_folder_are_reported(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("a: 1\n")
    (tmp_path / "linked.yaml").symlink_to("real.yaml")  # a link to a file is read like the file
    (tmp_path / "dangling.yaml").symlink_to("gone.yaml")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "notes.txt").symlink_to("gone.txt")  # not a YAML name: not ours to report
    documents, problems = load_paths([tmp_path])
    assert sorted(Path(d.path).name for d in documents) == ["linked.yaml", "real.yaml"]
    assert [(Path(p.position.path).name, p.rule, p.message) for p in problems] == [
        ("dangling.yaml", "Y005", "dangling symbolic link (its target gone.yaml does not exist)"),
        ("loop.yaml", "Y005", "symbolic link loop (the link leads back to itself)"),
    ]


def test_looping_and_dangling_links_named_directly(tmp_path: Path) -> None:
    (tmp_path / "dangling.yaml").symlink_to("gone.yaml")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    files, problems = discover([tmp_path / "dangling.yaml", tmp_path / "loop.yaml", tmp_path / "missing.yaml"])
    assert files == []
    assert [p.message for p in problems] == [
        "dangling symbolic link (its target gone.yaml does not exist)",
        "symbolic link loop (the link leads back to itself)",
        "no such file or folder",
    ]


# Tags: refused wherever they stand, the node read as if it had none.

TAGS = [
    ("on a sequence", "a: !!python/object/apply:os.system [dimona]\n", (1, 4), "!!python/object/apply:os.system"),
    ("on a mapping", "a: !foo {b: 1}\n", (1, 4), "!foo"),
    ("on a scalar", "a: !foo bar\n", (1, 4), "!foo"),
    ("on a key", "!foo a: b\n", (1, 1), "!foo"),
    ("on the document", "--- !foo\na: b\n", (1, 5), "!foo"),
    ("standard, on text", "a: !!str abc\n", (1, 4), "!!str"),
    ("standard, binary", "a: !!binary aGk=\n", (1, 4), "!!binary"),
    ("standard, set", "a: !!set {x, y}\n", (1, 4), "!!set"),
    ("verbatim", "a: !<tag:yaml.org,2002:str> b\n", (1, 4), "!!str"),
    ("non-specific", "a: ! 12\n", (1, 4), "!"),
    ("in a flow sequence", "a: [x, !x y]\n", (1, 8), "!x"),
    ("on a block sequence item", "a:\n  - !x y\n", (2, 5), "!x"),
]


@pytest.mark.parametrize(("name", "text", "at", "tag"), TAGS, ids=[t[0] for t in TAGS])
def test_tags_are_refused_wherever_they_stand(name: str, text: str, at: tuple[int, int], tag: str) -> None:
    document, problems = load_text(text, "f.yaml")
    assert [str(p) for p in problems] == [
        f"f.yaml:{at[0]}:{at[1]}: Y007 YAML tags are not supported: {tag}; write the value without it"
    ]
    assert document is not None  # read as if untagged, so that the other problems of the file show too


def test_a_tagged_node_is_read_as_if_untagged_and_reported_once() -> None:
    document, problems = load_text("a: &x !!python/object/apply:os.system [dimona]\nb: *x\nc: !!binary aGk=\n", "f")
    assert document.data == {"a": ["dimona"], "b": ["dimona"], "c": "aGk="}  # no constructor ran
    assert [(p.position.line, p.rule) for p in problems] == [(1, "Y007"), (3, "Y007")]


# Values YAML 1.1 reads as something Python cannot hold: findings, not tracebacks.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 2026-13-01\n",
            'f:1:4: Y001 YAML 1.1 reads 2026-13-01 as a date or time that does not exist; quote it: "2026-13-01"',
        ),
        (
            "2026-02-30: x\n",
            'f:1:1: Y001 YAML 1.1 reads 2026-02-30 as a date or time that does not exist; quote it: "2026-02-30"',
        ),
        (
            "a: " + "1" * 5000 + "\n",
            "f:1:4: Y001 YAML 1.1 reads " + "1" * 60 + "… (5,000 characters) as a number too long to read; quote it",
        ),
        (
            "a: 0x" + "f" * 5000 + "\n",
            "f:1:4: Y001 YAML 1.1 reads 0x" + "f" * 58 + "… (5,002 characters) as a number too long to read; quote it",
        ),
    ],
)
def test_values_python_cannot_hold_are_findings(text: str, expected: str) -> None:
    _, problems = load_text(text, "f")
    assert [str(p) for p in problems] == [expected]


# Control characters (S006): where they stand in the file, or in the value an escape or a block scalar made.

CONTROLS = [
    (
        "escaped NUL",
        'name: "Els\\0"\n',
        "1:7",
        'S006 "Els\\x00" holds the control character \\x00 (NULL) at character 4',
    ),
    (
        "escaped ESC",
        'name: "\\e[31mEls"\n',
        "1:7",
        'S006 "\\x1b[31mEls" holds the control character \\x1b (ESCAPE) at character 1',
    ),
    (
        "escaped CR",
        'name: "Els\\rX"\n',
        "1:7",
        'S006 "Els\\x0dX" holds the control character \\x0d (CARRIAGE RETURN) at character 4',
    ),
    (
        "escaped C1",
        'name: "a\\x9bb"\n',
        "1:7",
        'S006 "a\\x9bb" holds the control character \\x9b (CONTROL SEQUENCE INTRODUCER) at character 2',
    ),
    (
        "escaped override",
        'name: "a\\u202eb"\n',
        "1:7",
        'S006 "a\\u202eb" holds the bidirectional control character \\u202e (RIGHT-TO-LEFT OVERRIDE) at character 2',
    ),
    (
        "escaped isolate",
        'name: "a\\u2066b"\n',
        "1:7",
        'S006 "a\\u2066b" holds the bidirectional control character \\u2066 (LEFT-TO-RIGHT ISOLATE) at character 2',
    ),
    (
        "escaped line separator",
        'name: "a\\Lb"\n',
        "1:7",
        'S006 "a\\u2028b" holds the separator \\u2028 (LINE SEPARATOR) at character 2',
    ),
    (
        "block scalar",
        "name: |\n  Els\n  Mertens\n",
        "1:7",
        'S006 "Els\\x0aMertens\\x0a" holds the control character \\x0a (LINE FEED) at character 4',
    ),
    (
        "blank line in a quoted scalar",
        'name: "Els\n\n  Mertens"\n',
        "1:7",
        'S006 "Els\\x0aMertens" holds the control character \\x0a (LINE FEED) at character 4',
    ),
    ("raw ESC", "name: Els\x1b[31m\n", "1:10", "S006 the control character \\x1b (ESCAPE) is not allowed"),
    ("raw DEL", "name: Els\x7f\n", "1:10", "S006 the control character \\x7f (DELETE) is not allowed"),
    (
        "raw override in a comment",
        "name: Els  # \u202e note\n",
        "1:14",
        "S006 the bidirectional control character \\u202e (RIGHT-TO-LEFT OVERRIDE) is not allowed",
    ),
    ("raw next line", "name: a\x85b\n", "1:8", "S006 the control character \\x85 (NEXT LINE) is not allowed"),
]


@pytest.mark.parametrize(("name", "text", "at", "expected"), CONTROLS, ids=[c[0] for c in CONTROLS])
def test_control_characters_are_refused_where_they_stand(name: str, text: str, at: str, expected: str) -> None:
    _, problems = load_text(text, "f.yaml")
    assert [str(p) for p in problems] == [f"f.yaml:{at}: {expected}; remove it"]


def test_tabs_and_line_breaks_between_values_are_text_as_usual() -> None:
    document, problems = load_text('a: "x\\ty"\r\nb: x\ty\r\nc: >-\n  folded\n  lines\n', "f.yaml")
    assert problems == []
    assert document.data == {"a": "x\ty", "b": "x\ty", "c": "folded lines"}


def test_a_file_full_of_control_characters_gets_a_bounded_report() -> None:
    _, problems = load_text("a: " + "\x1b" * 100_000 + "\n", "f.yaml")
    assert len(problems) == 11
    assert str(problems[-1]) == "f.yaml:1:14: S006 99,990 more refused characters, the first of them here"


# Messages quote declared values escaped and shortened.


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    """A 200,000-character value was quoted whole, in every message about it."""
    long = "x" * 200_000
    path = tmp_path / "long.yaml"
    path.write_text(
        f'enterprise:\n  number: "{long}"\n  name: Y\nmain_access_manager:\n  ssin: "75031366754"\n'
        f"  name: {long}\n  email: {long}\n",
        encoding="utf-8",
    )
    _, problems = load_desired([path])
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        f'7:10: S004 "{"x" * 60}…" (200,000 characters) is not a valid e-mail address'
    ]
    path.write_text(path.read_text().replace(f"email: {long}", "email: a@b.example"))
    _, problems = load_desired([path])
    messages = [p.message for p in problems]
    assert f'enterprise number "{"x" * 60}…" (200,000 characters) is not valid: unexpected characters' in messages
    assert max(len(str(p)) for p in problems) < 300


def test_a_file_name_cannot_drive_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "x\x1b[2J.yaml"
    path.write_text("")
    _, problems = load_file(path)
    assert str(problems[0]) == f"{tmp_path}/x\\x1b[2J.yaml:1:1: Y004 the file is empty"


def test_paths_holding_control_characters_are_refused(tmp_path: Path) -> None:
    """Paths become CODEOWNERS lines: a line feed in a name would add a line such as "* @mallory"."""
    (tmp_path / "evil\n* @mallory #.yaml").write_text("a: 1\n")
    (tmp_path / "team\u202e").mkdir()
    (tmp_path / "team\u202e" / "users.yaml").write_text("a: 1\n")
    files, problems = discover([tmp_path, tmp_path / "evil\n* @mallory #.yaml"])
    assert files == []
    evil = "evil\\x0a* @mallory #.yaml:1:1: Y005 the path holds the control character \\x0a (LINE FEED); rename it"
    assert [str(p).removeprefix(f"{tmp_path}/") for p in problems] == [
        evil,
        "team\\u202e/users.yaml:1:1: Y005 the path holds the bidirectional control character \\u202e "
        "(RIGHT-TO-LEFT OVERRIDE); rename it",
        evil,  # named on the command line
    ]
