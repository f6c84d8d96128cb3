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
document the schema accepts.  The scan runs on every file, hostile ones included: it is one
RE2 pass over the bytes for all its patterns, linear in the file's length whatever it holds
(a test feeds it a line of 200,000 "["), and 40 times faster than Python's ``re`` searching
each pattern in turn.  ``tests/test_trap_scan.py`` keeps that earlier scan as the reference
and checks that the two agree.  rapidyaml
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
import re2

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ryml

from reconciler.declare.source import SourceDocument

# Python's whitespace (``\s``, ``str.isspace``), which RE2's ``\s`` (ASCII only) is not.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# Plain scalars YAML 1.1 may read as something other than text start with a digit, a dot, a
# sign (numbers, dates, times, 1:20, .inf), or are one of these words; flagging every such
# value is conservative (numbers never appear in a valid file) and cheap to search for.
_WORDS = r"(?:yes|Yes|YES|no|No|NO|True|TRUE|False|FALSE|on|On|ON|off|Off|OFF|Null|NULL|[yYnN~=]|<<)"
_COMMENT = r"[ \t]*(?:#[^\n]*)?"
# What the scan looks for, as RE2 patterns over the file's UTF-8 bytes with a line feed put
# before them (so that the first line is searched like the others).
_TRAPS = (
    # After "key: ", "- ", in flows: a value YAML 1.1 reads as no text, one starting with ":"
    # ({x: :x}), and a quoted value not closed on its line (Y009 checks how it goes on).
    rf"(?::[ \t]|-[ \t]|[\[{{,])[ \t]*(?:[0-9.+:\]}}-]|{_WORDS}{_COMMENT}(?:(?m:$)|[,\]}}])"
    r"|\"[^\"\n]*(?:\n|\z)|'(?:[^'\n]|'')*(?:\n|\z))",
    # Alone on a line: a continued plain scalar (a word only where the file ends).
    rf"\n[ \t]*(?:[0-9.+]|-[0-9.]|{_WORDS}{_COMMENT}(?:\n?\z|[,\]}}]))",
    # Tags (even "! "), anchors, aliases and reserved indicators after a blank or in a flow.
    rf"[{_SPACE}\[{{,][!&*@`%]",
    r"[\[{,][ \t]*[|>]",  # block scalars in flows
    # Complex keys, empty keys (": a" at a line's start), directives, document markers, and a
    # line starting with a closing bracket (what rapidyaml reads as text, PyYAML refuses).
    rf"\n[ \t]*(?:(?:\?|:|%|---|\.\.\.)(?:[{_SPACE}]|\z)|[\]}}])",
    # Flow collections continued on another line (the last opening bracket of a line is not closed on it).
    r"[\[{][^\n\[\]{}]*(?:\n|\z)",
    # Escapes, tabs (never indentation in YAML, read differently in places), control
    # characters, line separators, bidirectional controls.
    r"[\\\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x{9f}\x{2028}-\x{202e}\x{2066}-\x{2069}]",
    # Comments inside flow collections: rapidyaml reads "{name: a # b}" as the text "a # b" where PyYAML sees a comment.
    r"\n[^\n\[{]*[\[{][^\n]*[ \t]#",
    rf"[^{_SPACE}]#",  # a "#" right after something else: a comment PyYAML accepts and YAML refuses (Y008), or text
    r"\n +(?:\n|\z)",  # a line of nothing but blanks: read differently after a block scalar
    r"\r(?:[^\n]|\z)",  # a carriage return not followed by a line feed: a line break to PyYAML, nothing to rapidyaml
)
_SCAN = re2.compile("|".join(f"(?:{pattern})" for pattern in _TRAPS), re2.Options())
# In rapidyaml's JSON, an escape other than of a quote: a line feed (from a block scalar or a
# blank line inside a quoted scalar), a tab.  Every other character S006 refuses would have
# come from a backslash escape or stood in the text, and the scan above sent those files on.
_JSON_ESCAPE = re.compile(rb'\\[^"]')


def has_trap(raw: bytes) -> bool:
    """Whether the file may hold something the fast path could read differently from PyYAML.

    One pass of RE2 over the bytes for every pattern at once: linear in the file's length
    whatever it holds (RE2 has no backtracking; when its fast automaton runs out of memory on a
    hostile file it goes on with a slower one, never with a wrong answer).
    """
    return _SCAN.search(b"\n" + raw) is not None


_NULL_DEVICE: list[int] = []  # opened once per process: a registry's every file passes here


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    sys.stderr.flush()
    if not _NULL_DEVICE:
        _NULL_DEVICE.append(os.open(os.devnull, os.O_WRONLY))
    saved = os.dup(2)
    try:
        os.dup2(_NULL_DEVICE[0], 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _count(node: dict | list) -> int:
    """Nodes as rapidyaml counts them: every container entry is one node, plus the root.

    ``node`` is what orjson made: containers are exactly ``dict`` and ``list``.  Written out for
    speed (it walks every value of every file): a loop over a stack, as deep documents need.
    """
    total, stack = 1, [node]
    pop, push = stack.pop, stack.append
    while stack:
        current = pop()
        total += len(current)
        for value in current.values() if type(current) is dict else current:
            kind = type(value)
            if kind is dict or kind is list:
                push(value)
    return total


def load_fast(raw: bytes, path: str) -> SourceDocument | None:
    """The document, when the fast path can vouch for it; None sends the file to the reference loader."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip() or "\x00" in text or text.startswith("\ufeff") or has_trap(raw):
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
