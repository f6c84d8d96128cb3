"""A fast path for valid files: rapidyaml parses, orjson builds the data.

PyYAML (through the position-tracking loader) stays the reference: the fast path only ever
*accepts* a file when its data is exactly what PyYAML would give.  Four guards make sure:

- a conservative scan of the text sends any file with a plain scalar that YAML 1.1 would
  read as something other than text (``no``, ``on``, ``0123``, ``1:20``, ``2026-01-01``,
  ``~``, ...), with a tag (even the bare ``!``), anchor or alias, with a comment inside (or
  a line break across) a flow collection, with a backslash (an escape may write any
  character), a control character, a lone carriage return or a Unicode line separator
  (which the two parsers break lines at differently), to the reference loader;
- the JSON rapidyaml emits is searched for escapes: a line feed in a value (from a block
  scalar, or a blank line inside a quoted one) is refused by rule S006, which only the
  reference loader checks, with its position; so, with the scan above, the fast path never
  vouches for a file S006 would refuse, and the rule reads the same whichever reader read it;
- the number of nodes rapidyaml parsed must equal the number of nodes in the data, so a
  duplicate key (which JSON silently collapses) is caught;
- the caller validates the data against the schema, and re-reads any file that fails
  with the reference loader, whose messages carry ``file:line:column``.

A property test (``tests/test_fastload.py``) checks that the two loaders agree on every
document the schema accepts.  The scan runs on every file, hostile ones included, so each of
its patterns must take linear time (a test feeds it a line of 200,000 "[").  rapidyaml
writes its own errors to the process's stderr from C++: every call to it is made with that
descriptor pointed at /dev/null (``_quiet_stderr``).
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
    # After "key: ", "- ", in flows: a value YAML 1.1 reads as no text, one starting with ":"
    # ({x: :x}), and a quoted value not closed on its line (Y009 checks how it goes on).
    re.compile(
        rf"(?::[ \t]|-[ \t]|[\[{{,])[ \t]*(?:[0-9.+:\]}}-]|{_WORDS}{_END}"
        r"|\"[^\"\n]*(?:\n|\Z)|'(?:[^'\n]|'')*(?:\n|\Z))",
        re.MULTILINE,
    ),
    re.compile(rf"\n[ \t]*(?:[0-9.+]|-[0-9.]|{_WORDS}{_END})"),  # alone on a line: a continued plain scalar
    # Tags (even "! "), anchors, aliases and reserved indicators after a blank or in a flow: found
    # from the indicator back (a look-behind), since "@" is in every e-mail address and a blank
    # before each of thousands of lines; then block scalars in flows.
    re.compile(r"[!&*@`%](?<=[\s\[{,][!&*@`%])"),
    re.compile(r"[\[{,][ \t]*[|>]"),
    # Complex keys, empty keys (": a" at a line's start), directives, document markers, and a
    # line starting with a closing bracket (what rapidyaml reads as text, PyYAML refuses).
    re.compile(r"\n[ \t]*(?:(?:\?|:|%|---|\.\.\.)(?:\s|\Z)|[\]}])"),
    # Flow collections continued on another line (the last opening bracket of a line is not
    # closed on it).  Linear: each search stops at the next bracket; one that ran on to the
    # end of the line from every bracket took hours on a line of a million "[".
    re.compile(r"[\[{][^\n\[\]{}]*(?:\n|$)"),
    # Escapes, tabs (never indentation in YAML, read differently in places), control
    # characters, line separators, bidirectional controls.
    re.compile("[\\\\\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]"),
)
# Comments inside flow collections: rapidyaml reads "{name: a # b}" as the text "a # b"
# where PyYAML sees a comment.  Searched from each line's first opening bracket only (linear),
# and only in files that have a comment after a blank at all.
_FLOW_COMMENT = re.compile(r"\n[^\n\[{]*[\[{][^\n]*[ \t]#")
# A line of nothing but blanks: read differently after a block scalar.  Only a file with a
# line ending in a blank can hold one, which a plain substring test rules out first.
_BLANK_LINE = re.compile(r"\n[ ]+(?:\n|\Z)")
# A carriage return not followed by a line feed: a line break to PyYAML, nothing to rapidyaml.
_LONE_CR = re.compile(r"\r(?!\n)")
# In rapidyaml's JSON, an escape other than of a quote: a line feed (from a block scalar or a
# blank line inside a quoted scalar), a tab.  Every other character S006 refuses would have
# come from a backslash escape or stood in the text, and the scan above sent those files on.
_JSON_ESCAPE = re.compile(rb'\\[^"]')


def _glued_comment(text: str) -> bool:
    """A "#" right after something else: a comment PyYAML accepts and YAML refuses (Y008), or text.

    Found with ``str.find`` (files hold a few "#"), several times faster than a regular
    expression that must test every character.
    """
    at = text.find("#")
    while at != -1:
        if not text[at - 1].isspace():
            return True
        at = text.find("#", at + 1)
    return False


def has_trap(text: str) -> bool:
    """Whether the text may hold something the fast path could read differently from PyYAML."""
    text = "\n" + text  # so that the first line is searched like the others
    if any(pattern.search(text) for pattern in _TRAPS):
        return True
    if "\r" in text and _LONE_CR.search(text):
        return True
    if _glued_comment(text):
        return True
    if (" \n" in text or text.endswith(" ")) and _BLANK_LINE.search(text):
        return True
    return (" #" in text or "\t#" in text) and _FLOW_COMMENT.search(text) is not None


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
        # rapidyaml prints its errors to the process's stderr itself, from C++, with its source
        # path: in parsing, and in emitting too (past 64 levels of nesting), so both are
        # silenced.  The reference loader reports the problem properly.
        with _quiet_stderr():
            tree = ryml.parse_in_arena(raw)
            buffer = bytearray(ryml.compute_json_length(tree))
            ryml.emit_json_in_place(tree, buffer)
        if b"\\" in buffer and _JSON_ESCAPE.search(buffer):
            return None
        data = orjson.loads(buffer)
    except Exception:  # noqa: BLE001 - any trouble at all: let the reference loader speak
        return None
    if not isinstance(data, dict) or _count(data) != tree.size():
        return None
    return SourceDocument(path, data, {}, {}, {}, hashlib.sha256(raw).hexdigest(), exact=False)
