"""A fast path for valid files: rapidyaml parses, orjson builds the data.

PyYAML (through the position-tracking loader) stays the reference: the fast path only ever
*accepts* a file when its data is exactly what PyYAML would give.  Three guards make sure:

- a conservative scan of the text sends any file with a plain scalar that YAML 1.1 would
  read as something other than text (``no``, ``on``, ``0123``, ``1:20``, ``2026-01-01``,
  ``~``, ...), with a tag, anchor or alias, or with a comment inside (or a line break
  across) a flow collection, to the reference loader;
- the number of nodes rapidyaml parsed must equal the number of nodes in the data, so a
  duplicate key (which JSON silently collapses) is caught;
- the caller validates the data against the schema, and re-reads any file that fails
  with the reference loader, whose messages carry ``file:line:column``.

A property test (``tests/test_fastload.py``) checks that the two loaders agree on every
document the schema accepts.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ryml

from reconciler.declare.source import SourceDocument

# Plain scalars YAML 1.1 may read as something other than text start with a digit, a dot, a
# sign (numbers, dates, times, 1:20, .inf), or are one of these words; flagging every such
# value is conservative (numbers never appear in a valid file) and cheap to search for.
_WORDS = r"(?:yes|Yes|YES|no|No|NO|True|TRUE|False|FALSE|on|On|ON|off|Off|OFF|Null|NULL|[yYnN~=]|<<)"
_END = r"[ \t]*(?:#[^\n]*)?(?:$|[,\]}])"
# Separate patterns, each starting with a character class, search several times faster than
# one pattern with alternatives at its start.
_TRAPS = (
    re.compile(
        rf"(?::[ \t]|-[ \t]|[\[{{,])[ \t]*(?:[0-9.+-]|{_WORDS}{_END})", re.MULTILINE
    ),  # after "key: ", "- ", in flows
    re.compile(rf"\n[ \t]*(?:[0-9.+]|-[0-9.]|{_WORDS}{_END})"),  # alone on a line: a continued plain scalar
    re.compile(r"[\s\[{,](?:[!&*][^\s]|[@`%])|[\[{,][ \t]*[|>]"),  # tags, anchors, aliases; reserved indicators
    re.compile(r"\n[ \t]*(?:\?|%|---|\.\.\.)(?:\s|$)"),  # complex keys, directives, document markers
    # Comments inside flow collections, and flow collections continued on another line:
    # rapidyaml reads "{name: a # b}" as the text "a # b" where PyYAML sees a comment.
    re.compile(r"[\[{][^\n]*[ \t]#|[\[{][^\n\]}]*(?:\n|$)"),
)


def has_trap(text: str) -> bool:
    """Whether the text may hold something the fast path could read differently from PyYAML."""
    text = "\n" + text  # so that the first line is searched like the others
    return any(pattern.search(text) for pattern in _TRAPS)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _count(node: object) -> int:
    """Nodes as rapidyaml counts them: every container entry is one node, plus the root."""
    total, stack = 1, [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            total += len(current)
            stack.extend(v for v in current.values() if isinstance(v, (dict, list)))
        elif isinstance(current, list):
            total += len(current)
            stack.extend(v for v in current if isinstance(v, (dict, list)))
    return total


def load_fast(raw: bytes, path: str) -> SourceDocument | None:
    """The document, when the fast path can vouch for it; None sends the file to the reference loader."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip() or "\x00" in text or text.startswith("\ufeff") or has_trap(text):
        return None
    try:
        with _quiet_stderr():  # rapidyaml prints parse errors itself; the reference loader reports them
            tree = ryml.parse_in_arena(raw)
        buffer = bytearray(ryml.compute_json_length(tree))
        ryml.emit_json_in_place(tree, buffer)
        data = orjson.loads(buffer)
    except Exception:  # noqa: BLE001 - any trouble at all: let the reference loader speak
        return None
    if not isinstance(data, dict) or _count(data) != tree.size():
        return None
    return SourceDocument(path, data, {}, {}, {}, hashlib.sha256(raw).hexdigest(), exact=False)
