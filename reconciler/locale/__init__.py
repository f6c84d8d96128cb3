"""The languages of the portal (Dutch, French, German, English) for what people read.

Pages, form errors, letters and e-mails are written in English in the code and translated
through gettext catalogues: ``<language>/LC_MESSAGES/messages.po``, compiled to ``.mo``
by ``make translations`` and shipped in the package, so nothing is compiled at run time.
``make messages`` extracts the texts of the code and the templates into ``messages.pot``
and merges them into every ``.po`` file; a test fails while any catalogue lacks one.

A text that is decided in one place and said in another (an exception raised by the first
login, a role in the overview, a line of a letter) travels as a ``Phrase``: its English
text and its values, translated only where the language is known.  Values are inserted
after translation, so a declared name is never read as part of a message.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

LANGUAGES = ("nl", "fr", "de", "en")  # the portal's languages, in the order its language switch shows them
DEFAULT = "en"
NAMES = {"nl": "Nederlands", "fr": "Français", "de": "Deutsch", "en": "English"}  # each in its own language
DOMAIN = "messages"


def supported(language: str | None) -> str | None:
    """``language`` when it is one of the portal's, else None."""
    return language if language in LANGUAGES else None


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language``; English (and anything unknown) is the text as written."""
    if language == DEFAULT or language not in LANGUAGES:
        return gettext.NullTranslations()
    path = resources.files(__name__).joinpath(language, "LC_MESSAGES", f"{DOMAIN}.mo")
    with path.open("rb") as compiled:
        return gettext.GNUTranslations(compiled)


def N_(message: str) -> str:
    """Marks a text for extraction where it is written; it is translated where it is said."""
    return message


# Translators: the word between the last two of several people who may do something ("A, B or C").
OR = N_("or")


@dataclass(frozen=True)
class Phrase:
    """A text to be said in a language chosen later: the English text, with ``%(name)s`` for its values.

    Values may be phrases themselves (a role inside a sentence) and are translated with it.
    ``alternatives`` make it a list of phrases said as ``a, b or c``; ``names`` a name that
    the data gives in each language (a quality's label in the catalogue).
    """

    text: str
    values: tuple[tuple[str, str | int | Phrase], ...] = ()
    alternatives: tuple[Phrase, ...] = ()
    names: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, text: str, **values: str | int | Phrase) -> Phrase:
        return cls(text, tuple(values.items()))

    @classmethod
    def either(cls, *alternatives: Phrase) -> Phrase:
        return cls("", alternatives=alternatives)

    @classmethod
    def named(cls, **names: str) -> Phrase:
        """A name given by data in each language; English where the language has none."""
        return cls(names.get(DEFAULT, ""), names=tuple(names.items()))

    def say(self, language: str) -> str:
        if self.names:
            return dict(self.names).get(language) or self.text
        if self.alternatives:
            return listed([alternative.say(language) for alternative in self.alternatives], language)
        pattern = translations(language).gettext(self.text)
        if not self.values:
            return pattern
        return pattern % said(dict(self.values), language)

    def __str__(self) -> str:
        return self.say(DEFAULT)


def said(values: Mapping[str, str | int | Phrase], language: str) -> dict[str, str | int]:
    """The values of a phrase, the phrases among them translated too."""
    return {name: value.say(language) if isinstance(value, Phrase) else value for name, value in values.items()}


def listed(items: list[str], language: str) -> str:
    """``a, b or c`` in ``language``: the items are already translated (and neutralised)."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {translations(language).gettext(OR)} {items[-1]}"
