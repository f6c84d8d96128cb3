"""The trap scan (one RE2 pass) agrees with the scan it replaced (Python's ``re``, pattern by pattern).

The earlier scan is kept here, verbatim, as the reference: it was checked against PyYAML by
``tests/test_fastload.py`` for years of fixtures.  Both are run on generated texts made of the
characters and words the patterns turn on, on real files with such text spliced in, and on
every character Python counts as a blank, so that RE2's spelling of each pattern (``\\z`` for
``\\Z``, no look-behind, Python's own whitespace spelled out) must mean the same.
"""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.declare.fastload import has_trap
from tests.conftest import EXAMPLES

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


def reference_has_trap(text: str) -> bool:
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


PIECES = [
    *" \t\n\r:-[]{},#'\"!&*@`%|>?.+0129~=<\\",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x7f",
    "\x85",
    "\x9f",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u200a",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u202f",
    "\u205f",
    "\u2066",
    "\u2069",
    "\u3000",
    "\ufeff",
    "é",
    "名",
    "yes",
    "no",
    "No",
    "ON",
    "off",
    "True",
    "FALSE",
    "Null",
    "y",
    "N",
    "<<",
    "---",
    "...",
    "a",
    "name",
    "x@y.be",
    "key: ",
    "- ",
    ": ",
    "  ",
    "\n  - ",
    "\n    ",
    "# c",
    " #",
    "''",
    "\r\n",
]
FILES = sorted(p.read_text(encoding="utf-8") for p in EXAMPLES.rglob("*.yaml"))


def agree(text: str) -> None:
    assert has_trap(text.encode("utf-8")) == reference_has_trap(text), repr(text)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=24).map("".join))
def test_generated_texts(text: str) -> None:
    agree(text)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FILES),
    st.floats(min_value=0, max_value=1),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join),
)
def test_real_files_with_text_spliced_in(base: str, where: float, piece: str) -> None:
    at = int(len(base) * where)
    agree(base[:at] + piece + base[at:])


def test_the_examples_hold_no_trap() -> None:
    assert FILES
    for text in FILES:
        agree(text)


@pytest.mark.parametrize("code", [c for c in range(sys.maxunicode + 1) if chr(c).isspace()])
def test_every_python_blank(code: int) -> None:
    """Blanks before an indicator, after a key indicator, before a "#": Python's whitespace, all 29 of them."""
    blank = chr(code)
    for text in (f"a: b{blank}&c\n", f"a:{blank}b\n", f"? {blank}\n", f"a: b{blank}#c\n", f"\n:{blank}x"):
        agree(text)


@pytest.mark.parametrize("code", [*range(0x100), *range(0x2020, 0x2070)])
def test_every_control_and_separator(code: int) -> None:
    agree(f"a: b{chr(code)}c\n")
    agree(f"a: [b, {chr(code)}]\n")


def test_a_file_that_ends_in_a_word() -> None:
    for text in ("a:\n  no", "a:\n  no\n", "a:\n  no\nb: c\n", "- a\n- [b,\n  on]\n", "a: b\n  \n", "a: b\n  "):
        agree(text)
