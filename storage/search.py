"""Turning whatever a user typed into a safe FTS5 query, expanded with learnt topics."""

from __future__ import annotations

from dataclasses import dataclass

from storage.text import fold, phrase_words, words

MAX_TOKENS = 24
MAX_QUERY_CHARS = 5_000


@dataclass(frozen=True, slots=True)
class Expansions:
    """Acronym ⇄ phrase pairs the topic learner knows (folded phrase, acronym as written)."""

    by_acronym: dict[str, str]  # folded acronym -> folded phrase
    by_phrase: dict[str, str]  # folded phrase -> acronym


def _quote(text: str) -> str:
    # FTS5 string literal: the only special character inside quotes is the quote itself.
    return '"' + text.replace('"', '""') + '"'


def query_tokens(text: str) -> list[str]:
    """Word tokens of the user's text; every operator character is dropped."""
    return words(text[:MAX_QUERY_CHARS])[:MAX_TOKENS]


def build_match(text: str, expansions: Expansions | None = None, *, any_token: bool = False) -> str:
    """An FTS5 MATCH expression for ``text``; empty when there is nothing to search for.

    Each token is quoted so no user text is ever read as FTS syntax. Where a
    token is a known acronym the phrase it stands for is an alternative, and
    where a run of tokens spells a known phrase its acronym is one.
    """
    tokens = query_tokens(text)
    if not tokens:
        return ""
    folded = [fold(t) for t in tokens]
    normal = [" ".join(phrase_words(t)) for t in tokens]
    groups: list[str] = []
    i = 0
    while i < len(tokens):
        matched = False
        if expansions:
            for n in range(min(6, len(tokens) - i), 1, -1):
                span = " ".join(w for w in normal[i : i + n] if w)
                acronym = expansions.by_phrase.get(span)
                if acronym:
                    phrase = _quote(" ".join(tokens[i : i + n]))
                    groups.append(f"({phrase} OR {_quote(acronym)})")
                    i += n
                    matched = True
                    break
        if matched:
            continue
        token = tokens[i]
        alternatives = [_quote(token)]
        if expansions:
            key = folded[i][:-1] if folded[i].endswith("s") and folded[i][:-1] in expansions.by_acronym else folded[i]
            phrase = expansions.by_acronym.get(key)
            if phrase:
                alternatives.append(_quote(phrase))
        groups.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
        i += 1
    return (" OR " if any_token else " AND ").join(groups)
