"""The shipped dictionary of common field acronyms, merged with the config's overrides.

Search expands an acronym to its long form and back. The lab's own papers teach
most of these pairs (``storage.topics``); this small dictionary covers what they
use without defining, and always yields to what they define.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from storage.errors import InvalidInputError
from storage.text import fold, phrase_words

DICTIONARY = Path(__file__).with_name("acronyms.toml")


def normal_phrase(text: str) -> str:
    """A long form as the topic learner stores it: folded, singular words, hyphens as spaces."""
    return " ".join(phrase_words(text))


def load(overrides: Mapping[str, str] | None = None, *, builtin: bool = True) -> dict[str, str]:
    """Acronym as written -> normal long form: the shipped list (unless ``builtin`` is off), then overrides.

    An override whose long form is empty removes that acronym.
    """
    entries: dict[str, str] = {}
    if builtin:
        entries.update(tomllib.loads(DICTIONARY.read_text(encoding="utf-8")))
    for acronym, phrase in (overrides or {}).items():
        for existing in [a for a in entries if fold(a) == fold(acronym)]:
            del entries[existing]
        if phrase:
            entries[acronym] = phrase
    out: dict[str, str] = {}
    for acronym, phrase in entries.items():
        if not isinstance(phrase, str):
            raise InvalidInputError(f"acronym {acronym!r}: the long form must be text, not {phrase!r}")
        normal = normal_phrase(phrase)
        if not normal or not acronym.strip() or " " in acronym.strip():
            raise InvalidInputError(f"acronym {acronym!r} = {phrase!r}: give one word and its long form")
        out[acronym.strip()] = normal
    return out


__all__ = ["DICTIONARY", "load", "normal_phrase"]
