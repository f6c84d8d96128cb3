"""Declared text is data, never markup: what every renderer does to a value it did not write.

Names, user names, e-mail addresses, codes and keys come from YAML files anyone may propose
in a pull request, and from a store that may hold values from before validation refused
control characters (rule S006).  Shown as they are, they could drive the terminal that
prints a plan (ESC sequences, a CR that rewrites the line), reorder what a reviewer reads
(bidirectional overrides), hide text (zero-width characters), or turn a pull-request
comment into markup: an image, a link, an @-mention that pings a whole organisation, or a
``</details>`` or a run of backticks that closes the block the plan is shown in.

Every renderer passes every such value through one of these functions, chosen by where the
value lands: ``text`` for terminals and text files, ``json_text`` for text that is already a
JSON string literal, ``markdown`` for Markdown and HTML outside code, ``code_span`` and
``fence`` for code.  The characters to escape are those ``reconciler.declare.characters``
defines for messages, so that a value reads the same in a diagnostic and in a plan.
"""

from __future__ import annotations

import re

from reconciler.declare.characters import SHOWN_ESCAPED, escape

__all__ = ["code_span", "fence", "json_lines", "json_text", "markdown", "text"]


def text(value: object) -> str:
    """For terminals and text files: control, format and separator characters as escapes (``\\x1b``, ``\\u202e``)."""
    return escape(str(value))


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the basic plane JSON writes a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(literal: str) -> str:
    """A JSON value as text (``orjson.dumps``, which escapes only what JSON requires) with the
    remaining control, format and separator characters escaped as JSON does (``\\u202e``)."""
    if literal.isprintable():  # almost always: one pass in C
        return literal
    return SHOWN_ESCAPED.sub(_json_escape, literal)


def json_lines(document: str) -> str:
    """An indented JSON document (``json.dumps(..., indent=2)``) with ``json_text`` applied line by line:
    its line breaks are layout, every one inside a string is already written as ``\\n``."""
    return "\n".join(json_text(line) for line in document.split("\n"))


# Characters Markdown or HTML give a meaning to, as numeric character references: they
# display as themselves, mean nothing, and work alike in Markdown text, in table cells (|)
# and inside HTML blocks such as <summary>, where backslash escapes are not read.
_MARKUP = re.compile(r"[&<>\\`*_~\[\]|#$!]")
_REFERENCES = {char: f"&#{ord(char)};" for char in "&<>\\`*_~[]|#$!"}
# Code hosts link some plain text after rendering, where character references are already
# read: an @ that starts a mention (not one inside an e-mail address), # and a number (an
# issue), and the bare URLs (https://..., www....).  A zero-width space after the @, the #
# or the :// (or before the dot of www.), written as a reference, breaks each and shows nothing.
_LINKED = re.compile(r"(?<![0-9A-Za-z._%+-])@|&#35;(?=[0-9])|://|(?i:\bwww)(?=\.)")
_BREAK = "&#8203;"


def markdown(value: object) -> str:
    """For Markdown and HTML outside code: escaped as ``text``, then every character with a
    meaning in Markdown or HTML written as a character reference, mentions and bare links
    broken.  The result renders as the value, letter for letter, on one line."""
    shown = _MARKUP.sub(lambda match: _REFERENCES[match.group()], text(value))
    return _LINKED.sub(lambda match: match.group() + _BREAK, shown)


def _longest_run(content: str) -> int:
    if "`" not in content:
        return 0
    return max(len(run) for run in re.findall(r"`+", content))


def code_span(value: object) -> str:
    """Inline code holding the value: delimited by more backticks than any run inside it, padded
    with a space when it starts or ends with one, so the value cannot close the span."""
    shown = text(value)
    ticks = "`" * (_longest_run(shown) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") or not shown.strip() else ""
    return f"{ticks}{pad}{shown}{pad}{ticks}"


def fence(lines: list[str], info: str = "") -> list[str]:
    """A fenced code block around lines already made safe with ``text``: fenced by more backticks
    than any run in them (three at least), so no line can close the block early."""
    ticks = "`" * max(3, _longest_run("\n".join(lines)) + 1)
    return [ticks + info, *lines, ticks]
