"""The reference loader: YAML text into plain data, remembering where every value came from.

PyYAML's constructors throw positions away, so we compose the node tree with the C
parser (when available) and build the data ourselves.  That gives us, for every JSON
path, the line and column of the value and of its key, lets us reject duplicate keys
(which PyYAML silently overwrites) and keeps the source text of plain scalars that
YAML 1.1 turned into numbers or booleans, so messages can show what the user typed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.declare.diagnostics import Diagnostic, Position
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

LOADING_RULES = {
    Y_SYNTAX: "the file is well-formed YAML holding a single document",
    Y_DUPLICATE_KEY: "a key appears at most once in a mapping",
    Y_KEY_NOT_TEXT: "mapping keys are text",
    Y_EMPTY: "a file declares something",
    Y_UNREADABLE: "a path names a readable UTF-8 text file or a folder",
    Y_UNSUPPORTED: "no merge keys, no alias expansion beyond the file's own size",
}


class _Builder:
    """Turns a composed node tree into Python data plus position tables."""

    def __init__(self, loader: Any, path: str, budget: int):
        self.loader = loader
        self.path = path
        self.budget = budget
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.plain: dict[JsonPath, str] = {}
        self.problems: list[Diagnostic] = []

    def _at(self, node: Node) -> Position:
        return Position(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node, where: JsonPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge(self._at(node))
        mark = node.start_mark
        self.values[where] = (mark.line + 1, mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, where)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*where, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)  # the composer makes nothing but mappings, sequences and scalars
        value = self.loader.construct_object(node)
        if not isinstance(value, str) and value is not None and not node.style:
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
            key = self.loader.construct_object(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.problems.append(
                    Diagnostic(
                        self._at(key_node), Y_KEY_NOT_TEXT, f'key {shown} is not text in YAML; quote it: "{shown}"'
                    )
                )
                continue
            if key in first_seen:
                self.problems.append(
                    Diagnostic(
                        self._at(key_node), Y_DUPLICATE_KEY, f'duplicate key "{key}" (first at line {first_seen[key]})'
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
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Diagnostic(Position(path), Y_EMPTY, "the file holds no YAML document")]
        # Aliases may point at the same node many times; a budget tied to the file's
        # size stops an alias bomb without limiting honest files.
        builder = _Builder(loader, path, budget=2 * len(text) + 10_000)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = error.problem or ""
        if error.context and problem.startswith("but "):
            problem = f"{error.context}, {problem}"
        elif error.context:
            problem = f"{problem} ({error.context})"
        return None, [Diagnostic(position, Y_SYNTAX, f"invalid YAML: {problem or 'cannot parse'}")]
    except yaml.YAMLError as error:
        return None, [Diagnostic(Position(path), Y_SYNTAX, f"invalid YAML: {error}")]
    except _TooLarge as error:
        return None, [
            Diagnostic(
                error.position, Y_UNSUPPORTED, "aliases expand this file beyond its own size; write the values out"
            )
        ]
    except RecursionError:
        return None, [Diagnostic(Position(path), Y_SYNTAX, "invalid YAML: nesting is too deep")]
    finally:
        loader.dispose()
    document = SourceDocument(
        path,
        data,
        builder.values,
        builder.keys,
        builder.plain,
        sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    return document, builder.problems
