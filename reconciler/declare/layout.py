"""Layout PyYAML lets through although YAML forbids it, and a person plausibly writes by mistake.

The official YAML test suite (``tests/yaml-test-suite``) found PyYAML accepting invalid files
of two kinds that an enterprise file could hold:

- a comment glued to what precedes it (``name: "Jan"# note``, ``[a, b]#x``): YAML needs a
  blank before ``#``, and other tools read such a line differently (Y008);
- a flow collection or a quoted or plain scalar continued on a line indented no more than
  the block it belongs to (``services: [dimona,`` then ``dmfa]`` at the key's column), which
  YAML forbids and which reads as a new key to a reader that follows the spec (Y009).

Both are found from PyYAML's own tokens (positions included), so only files that reached
the reference loader pay for it: the fast path sends every file with a comment after a flow
collection, a line break inside one, a tab, or a quoted scalar across lines to it.
"""

from __future__ import annotations

import itertools

import yaml
from yaml.tokens import (
    BlockEndToken,
    BlockMappingStartToken,
    BlockSequenceStartToken,
    FlowMappingEndToken,
    FlowMappingStartToken,
    FlowSequenceEndToken,
    FlowSequenceStartToken,
    ScalarToken,
    Token,
)

from reconciler.declare.diagnostics import Diagnostic, Position

try:
    from yaml import CSafeLoader as _Scanner
except ImportError:  # pragma: no cover - only on builds of PyYAML without libyaml
    from yaml import SafeLoader as _Scanner  # type: ignore[assignment]

Y_COMMENT = "Y008"
Y_INDENT = "Y009"

LAYOUT_RULES = {
    Y_COMMENT: "a comment is separated from what precedes it by a blank",
    Y_INDENT: "lines continuing a flow collection or a scalar are indented more than the block they belong to",
}
_BLANKS = " \t\r\n"


def layout_problems(text: str, path: str) -> list[Diagnostic]:
    """Comments glued to the text before them, and continuation lines indented too little."""
    try:
        tokens = list(yaml.scan(text, Loader=_Scanner))
    except yaml.YAMLError:
        return []  # the loader reports what is wrong with the file
    return _glued_comments(text, path, tokens) + _shallow_continuations(text, path, tokens)


def _glued_comments(text: str, path: str, tokens: list[Token]) -> list[Diagnostic]:
    found = []
    for before, after in itertools.pairwise(tokens):
        start, end = before.end_mark.index, after.start_mark.index
        hash_at = text.find("#", start, end)  # between tokens, a "#" can only start a comment
        if hash_at > 0 and text[hash_at - 1] not in _BLANKS:
            line = text.count("\n", 0, hash_at) + 1
            column = hash_at - (text.rfind("\n", 0, hash_at) + 1) + 1
            found.append(
                Diagnostic(Position(path, line, column), Y_COMMENT, "put a blank before the # that starts a comment")
            )
    return found


def _shallow_continuations(text: str, path: str, tokens: list[Token]) -> list[Diagnostic]:
    lines = text.split("\n")
    blocks = [-1]  # the columns of the open block collections; -1: none (the document's top)
    depth = 0  # flow collections open
    previous_line = 0
    found: list[Diagnostic] = []

    def too_shallow(line: int, where: str) -> None:
        content = lines[line]
        stripped = content.lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            return  # blank lines and comment lines may stand anywhere
        if len(content) - len(stripped) <= blocks[-1]:
            found.append(
                Diagnostic(
                    Position(path, line + 1, 1),
                    Y_INDENT,
                    f"this line continues {where}: indent it more than the block it belongs to "
                    f"(which starts at column {blocks[-1] + 1})",
                )
            )

    for token in tokens:
        start, end = token.start_mark.line, token.end_mark.line
        if depth and start > previous_line:
            too_shallow(start, "a flow collection ([...] or {...})")
        if isinstance(token, ScalarToken) and token.style in (None, '"', "'") and end > start:
            for line in range(start + 1, end + 1):
                too_shallow(line, "a text value")
        if isinstance(token, BlockMappingStartToken | BlockSequenceStartToken):
            blocks.append(token.start_mark.column)
        elif isinstance(token, BlockEndToken) and len(blocks) > 1:
            blocks.pop()
        elif isinstance(token, FlowSequenceStartToken | FlowMappingStartToken):
            depth += 1
        elif isinstance(token, FlowSequenceEndToken | FlowMappingEndToken):
            depth = max(0, depth - 1)
        previous_line = max(previous_line, end)
    return found
