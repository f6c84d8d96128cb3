"""What declared text may hold, and how text is quoted in messages.

Declared values travel to terminals, pull-request comments, letters, web pages and
PostgreSQL.  Some characters do harm on the way: ESC starts terminal escape sequences, CR
rewrites the line it is on, NUL is refused by PostgreSQL, a line feed forges a line of
output, and the Unicode bidirectional embeddings, overrides and isolates make text display
in another order than it reads (the "Trojan Source" characters).  Declarations may hold
none of them (rule S006, checked by the reference loader; the fast path sends every file
that could hold one to it).  Stored state may still hold them from before the rule existed,
so every renderer escapes what it shows as well (``reconciler.render.neutral``).

Messages quote declared values through ``quoted`` and ``shown``: escaped, and cut to a
readable length, so a hostile or runaway value (a 200,000-character name) neither floods
nor drives the terminal that prints the message.
"""

from __future__ import annotations

import re
import unicodedata

S_CONTROL = "S006"
CONTROL_RULE = (
    "text holds no control characters: no C0 or C1 control but tab (so no line break in a value), "
    "no line or paragraph separator, no bidirectional embedding, override or isolate"
)

_BIDI = "\u202a-\u202e\u2066-\u2069"  # LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI
# Refused in a declared value: C0 and C1 controls but tab, DEL, the line and paragraph
# separators, the bidirectional controls, and lone surrogates (an escape such as "\ud800"
# names no character; printing one fails).
REFUSED = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")
# Refused anywhere in a file, comments included (a bidirectional override in a comment can
# make a reviewer read the lines around it wrongly): the same but line feed and carriage
# return, which lay the YAML out.
REFUSED_IN_FILE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")

# Escaped wherever text is shown: every character of the Unicode categories Cc (controls),
# Cf (format: bidirectional controls, zero-width spaces and joiners, soft hyphen, ...), Zl,
# Zp (line and paragraph separators) and Cs (surrogates), as of Unicode 14 (Python 3.11).
# Written out because computing it at start-up costs a tenth of a second;
# ``tests/test_hostile_names.py`` checks it against ``unicodedata``.
SHOWN_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)

QUOTE_LIMIT = 60  # characters of a declared value quoted in a message

_CONTROL_NAMES = {
    "\x00": "NULL",
    "\x07": "BELL",
    "\x08": "BACKSPACE",
    "\x0a": "LINE FEED",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\x0d": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
    "\x9b": "CONTROL SEQUENCE INTRODUCER",
}


def escape_character(char: str) -> str:
    """``\\x1b``, ``\\u202e``, ``\\U000e0001``: how Python would write the character in a string."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str) -> str:
    """The text with every control, format and separator character written as its escape.

    ``isprintable`` (C, no allocation) clears almost every value at once: a plan of a million
    users escapes millions of them.
    """
    if text.isprintable():
        return text
    return SHOWN_ESCAPED.sub(lambda match: escape_character(match.group()), text)


def as_text(value: object) -> str:
    """``str(value)``, also for an integer too long for Python to write out (YAML reads ``0x`` and
    thousands of hex digits as one)."""
    try:
        return str(value)
    except ValueError:
        return (
            f"a number of {len(hex(value)) - 2:,} hexadecimal digits" if isinstance(value, int) else repr(type(value))
        )


def shown(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A declared value for a message: escaped, and cut after ``limit`` characters, saying how long it was."""
    text = as_text(value)
    if len(text) <= limit:
        return escape(text)
    return f"{escape(text[:limit])}… ({len(text):,} characters)"


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``shown`` in double quotes; a shortened value keeps its length outside them."""
    text = as_text(value)
    if len(text) <= limit:
        return f'"{escape(text)}"'
    return f'"{escape(text[:limit])}…" ({len(text):,} characters)'


def quote_hint(typed: str) -> str:
    """``quote it: "0123"``, the advice on a plain scalar YAML misreads; without the text when it is long."""
    return f'quote it: "{escape(typed)}"' if len(typed) <= QUOTE_LIMIT else "quote it"


def describe(char: str) -> str:
    """The character as a message names it: ``the control character \\x1b (ESCAPE)``."""
    code = ord(char)
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        kind = "the bidirectional control character"
    elif 0xD800 <= code <= 0xDFFF:
        kind = "the lone surrogate"
    elif code in (0x2028, 0x2029):
        kind = "the separator"
    else:
        kind = "the control character"
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"{kind} {escape_character(char)}" + (f" ({name})" if name else "")
