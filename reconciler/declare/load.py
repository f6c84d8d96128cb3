"""The reference loader: YAML text into plain data, remembering where every value came from.

PyYAML's constructors throw positions away, so we compose the node tree with the C
parser (when available) and build the data ourselves.  That gives us, for every JSON
path, the line and column of the value and of its key, lets us reject duplicate keys
(which PyYAML silently overwrites) and keeps the source text of plain scalars that
YAML 1.1 turned into numbers or booleans, so messages can show what the user typed.

Building the data ourselves also means PyYAML's constructors never see a tag: a tag written
in the file (``!!python/object/apply:...``, ``!foo``, even ``!!str``) is refused (Y007)
wherever it stands, and the node is read as if it had none.  The composer does not say
which tags were written, so the loader marks the ones it resolves itself (``_Implicit``);
every other tag was written.  The non-specific tag ``!`` resolves like no tag at all and is
found in the event stream instead.  Control characters are refused (S006) in the file's
text, where they sit, and in every value, where escapes and block scalars put them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.declare.characters import (
    REFUSED,
    REFUSED_IN_FILE,
    S_CONTROL,
    describe,
    escape_character,
    quote_hint,
    quoted,
    shown,
)
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.layout import LAYOUT_RULES, layout_problems
from reconciler.declare.source import JsonPath, SourceDocument

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - only on builds of PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


# Rule ids of the loading stage.
Y_SYNTAX = "Y001"
Y_DUPLICATE_KEY = "Y002"
Y_KEY_NOT_TEXT = "Y003"
Y_EMPTY = "Y004"
Y_UNREADABLE = "Y005"
Y_UNSUPPORTED = "Y006"
Y_TAG = "Y007"

LOADING_RULES = {
    Y_SYNTAX: "the file is well-formed YAML holding a single document",
    Y_DUPLICATE_KEY: "a key appears at most once in a mapping",
    Y_KEY_NOT_TEXT: "mapping keys are text",
    Y_EMPTY: "a file declares something",
    Y_UNREADABLE: "a path names a readable UTF-8 text file (a regular file of at most 16 MiB) or a folder; "
    "no pipes, devices, dangling or looping links, or control characters in paths",
    Y_UNSUPPORTED: "no merge keys, no alias expansion beyond the file's own size",
    Y_TAG: "no YAML tags (!!python/..., !foo, even !!str or !), wherever they stand",
    **LAYOUT_RULES,
}

_STANDARD = "tag:yaml.org,2002:"
_REPORTED_CHARACTERS = 10  # per file; a file full of them gets one more finding that counts the rest
_BREAKS = re.compile(r"\r\n|\r|\n")
_TAG_CANDIDATE = re.compile(r"(?:^|[\s\[{,])!", re.MULTILINE)  # where a tag may start
_LONGEST_INTEGER_BITS = 14_000  # about 4,200 decimal digits
_CANNOT_HOLD = {
    _STANDARD + "timestamp": "a date or time that does not exist",
    _STANDARD + "int": "a number too long to read",
    _STANDARD + "float": "a number too long to read",
}


class _Implicit(str):
    """A tag the resolver gave a node that carried none in the file."""


class _Marked(dict[str, _Implicit]):
    """Each resolved tag, once, as an ``_Implicit``."""

    def __missing__(self, tag: str) -> _Implicit:
        marked = self[tag] = _Implicit(tag)
        return marked


class _TagLoader(_Loader):
    """The loader, marking the tags it resolves itself: any other tag on a node was written."""

    _resolve: ClassVar[Callable[..., str]] = _Loader.resolve
    _marked: ClassVar[_Marked] = _Marked()

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return self._marked[self._resolve(kind, value, implicit)]  # called for every node: kept short


def _written(tag: str) -> str:
    """A tag as people write it: ``!!str`` for the standard ones."""
    return "!!" + tag[len(_STANDARD) :] if tag.startswith(_STANDARD) else tag


def _tag_message(tag: str) -> str:
    return f"YAML tags are not supported: {shown(_written(tag))}; write the value without it"


class _Builder:
    """Turns a composed node tree into Python data plus position tables."""

    def __init__(self, loader: Any, path: str, budget: int, tags: bool):
        self.loader = loader
        self.tags = tags  # whether a tag may stand in the file at all (it holds a "!")
        self.path = path
        self.budget = budget
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.plain: dict[JsonPath, str] = {}
        self.problems: list[Diagnostic] = []
        self.tags_reported: set[int] = set()  # aliases visit a node again: one finding per node
        self.controls_reported: set[int] = set()

    def _at(self, node: Node) -> Position:
        return Position(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def _tagged(self, node: Node) -> bool:
        """Whether the node carries a tag written in the file, which is then reported."""
        if type(node.tag) is _Implicit:
            return False
        if id(node) not in self.tags_reported:
            self.tags_reported.add(id(node))
            self.problems.append(Diagnostic(self._at(node), Y_TAG, _tag_message(node.tag)))
        return True

    def _construct(self, node: ScalarNode) -> Any:
        """The scalar as YAML 1.1 reads it; a date that does not exist or a number of thousands of
        digits is reported, and read as the text it is, instead of raising out of the loader."""
        try:
            value = self.loader.construct_object(node)
        except (ValueError, OverflowError):
            return self._cannot_hold(node)
        # Python will not write out an integer of more than 4,300 digits: nor will messages.
        if type(value) is int and value.bit_length() >= _LONGEST_INTEGER_BITS:
            return self._cannot_hold(node)
        return value

    def _cannot_hold(self, node: ScalarNode) -> str:
        what = _CANNOT_HOLD.get(node.tag, "a value it cannot read")
        self.problems.append(
            Diagnostic(
                self._at(node), Y_SYNTAX, f"YAML 1.1 reads {shown(node.value)} as {what}; {quote_hint(node.value)}"
            )
        )
        return node.value

    def build(self, node: Node, where: JsonPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge(self._at(node))
        mark = node.start_mark
        self.values[where] = (mark.line + 1, mark.column + 1)
        tagged = self.tags and self._tagged(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, where)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*where, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)  # the composer makes nothing but mappings, sequences and scalars
        # A tagged scalar is read as the text it holds: its tag is reported, and no constructor
        # of PyYAML's (binary, timestamp, set, ...) ever runs on what a file asked for.
        if tagged:
            value = node.value
        else:
            try:  # _construct, inlined: this runs for every scalar
                value = self.loader.construct_object(node)
            except (ValueError, OverflowError):
                value = self._cannot_hold(node)
            if type(value) is int and value.bit_length() >= _LONGEST_INTEGER_BITS:
                value = self._cannot_hold(node)
        if isinstance(value, str):
            if not value.isprintable() and (found := REFUSED.search(value)) and id(node) not in self.controls_reported:
                self.controls_reported.add(id(node))
                self.problems.append(
                    Diagnostic(
                        self._at(node),
                        S_CONTROL,
                        f"{quoted(value)} holds {describe(found.group())} at character {found.start() + 1:,}; "
                        "remove it",
                    )
                )
        elif value is not None and not node.style:
            self.plain[where] = node.value
        return value

    def _mapping(self, node: MappingNode, where: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Diagnostic(
                        self._at(key_node), Y_UNSUPPORTED, "merge keys (<<) are not supported; write the fields out"
                    )
                )
                continue
            if not isinstance(key_node, ScalarNode):
                key = None
            elif self.tags and self._tagged(key_node):
                key = key_node.value
            else:
                key = self._construct(key_node)
            if not isinstance(key, str):
                if isinstance(key_node, ScalarNode):
                    message = f"key {shown(key_node.value)} is not text in YAML; {quote_hint(key_node.value)}"
                else:
                    message = "a list or mapping as a key is not text in YAML; write a text key"
                self.problems.append(Diagnostic(self._at(key_node), Y_KEY_NOT_TEXT, message))
                continue
            if key in first_seen:
                self.problems.append(
                    Diagnostic(
                        self._at(key_node),
                        Y_DUPLICATE_KEY,
                        f"duplicate key {quoted(key)} (first at line {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.keys[(*where, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, (*where, key))
        return result


class _TooLarge(Exception):
    def __init__(self, position: Position):
        self.position = position


def load_text(text: str, path: str, sha256: str | None = None) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Parse one YAML text; return the document (None when unusable) and the problems found."""
    if not text.strip():
        return None, [Diagnostic(Position(path), Y_EMPTY, "the file is empty")]
    digest = sha256 or hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    refused: list[Diagnostic] = []
    if REFUSED_IN_FILE.search(text):
        # Reported where they stand, then replaced (one character for one, so positions hold)
        # so that the rest of the file is still read and every other problem reported too.
        refused = _refused_characters(text, path)
        text = REFUSED_IN_FILE.sub("\ufffd", text)
    # Every tag starts with "!": without one the plain loader is used, and nothing is marked.
    tags = "!" in text
    loader = _TagLoader(text) if tags else _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [*refused, Diagnostic(Position(path), Y_EMPTY, "the file holds no YAML document")]
        # Aliases may point at the same node many times; a budget tied to the file's
        # size stops an alias bomb without limiting honest files.
        builder = _Builder(loader, path, budget=2 * len(text) + 10_000, tags=tags)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = error.problem or ""
        if error.context and problem.startswith("but "):
            problem = f"{error.context}, {problem}"
        elif error.context:
            problem = f"{problem} ({error.context})"
        return None, [*refused, Diagnostic(position, Y_SYNTAX, f"invalid YAML: {problem or 'cannot parse'}")]
    except yaml.reader.ReaderError as error:
        return None, [*refused, _reader_error(text, path, error)]
    except yaml.YAMLError as error:
        return None, [*refused, Diagnostic(Position(path), Y_SYNTAX, f"invalid YAML: {error}")]
    except _TooLarge as error:
        return None, [
            *refused,
            Diagnostic(
                error.position, Y_UNSUPPORTED, "aliases expand this file beyond its own size; write the values out"
            ),
        ]
    except RecursionError:
        return None, [*refused, Diagnostic(Position(path), Y_SYNTAX, "invalid YAML: nesting is too deep")]
    finally:
        loader.dispose()
    problems = refused + builder.problems + _non_specific_tags(text, path) + layout_problems(text, path)
    clean = not any(problem.rule == S_CONTROL for problem in problems)
    document = SourceDocument(path, data, builder.values, builder.keys, builder.plain, digest, clean=clean)
    return document, problems


def _line_column(text: str, offset: int) -> tuple[int, int]:
    """Line and column (from 1, in characters) of an offset, counting line breaks as YAML does."""
    breaks = _BREAKS.findall(text, 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    start = max(start, text.rfind("\r", 0, offset) + 1)
    return len(breaks) + 1, offset - start + 1


def _refused_characters(text: str, path: str) -> list[Diagnostic]:
    """S006 at each refused character of the file, the first few of them, then how many more."""
    found = []
    matches = list(REFUSED_IN_FILE.finditer(text))
    for match in matches[:_REPORTED_CHARACTERS]:
        position = Position(path, *_line_column(text, match.start()))
        found.append(Diagnostic(position, S_CONTROL, f"{describe(match.group())} is not allowed; remove it"))
    if len(matches) > _REPORTED_CHARACTERS:
        more = matches[_REPORTED_CHARACTERS]
        position = Position(path, *_line_column(text, more.start()))
        count = len(matches) - _REPORTED_CHARACTERS
        found.append(Diagnostic(position, S_CONTROL, f"{count:,} more refused characters, the first of them here"))
    return found


def _reader_error(text: str, path: str, error: yaml.reader.ReaderError) -> Diagnostic:
    """libyaml's reader refuses a character (U+FFFE, ...): say which and where, on one line."""
    offset = error.position
    if _Loader is not yaml.SafeLoader:  # libyaml counts bytes of UTF-8; positions count characters
        offset = len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
    character = error.character if isinstance(error.character, str) else chr(error.character)
    return Diagnostic(
        Position(path, *_line_column(text, offset)),
        Y_SYNTAX,
        f"invalid YAML: the character {escape_character(character)} is not allowed in YAML text",
    )


def _non_specific_tags(text: str, path: str) -> list[Diagnostic]:
    """Y007 at each non-specific tag ``!``, which resolves like no tag and so leaves no mark on the node.

    Found in the event stream, parsed again only for files where a tag may stand at all.
    """
    if "!" not in text or not _TAG_CANDIDATE.search(text):  # the search alone costs a tenth of the parse
        return []
    found = []
    try:
        for event in yaml.parse(text, Loader=_Loader):
            mark = event.start_mark
            if getattr(event, "tag", None) == "!" and mark is not None:
                found.append(Diagnostic(Position(path, mark.line + 1, mark.column + 1), Y_TAG, _tag_message("!")))
    except yaml.YAMLError:  # pragma: no cover - the file was composed without error just before
        pass
    return found
