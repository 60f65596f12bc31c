"""Turning whatever a user typed into a safe FTS5 query, expanded with learnt topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.text import fold, phrase_words, words

if TYPE_CHECKING:
    from storage.search_rank import Group, Plan

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


def _alternatives(group: Group) -> list[str]:
    out = []
    for alt in group.alts:
        if alt.kind == "prefix":
            out.append(_quote(alt.terms[0]) + " *")
        elif alt.kind != "fuzzy":
            out.append(_quote(alt.label))
    return list(dict.fromkeys(out))


def _either(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")"


def plan_match(plan: Plan, *, any_group: bool = False) -> str:
    """The FTS5 MATCH expression for a query plan (``storage.search_rank``).

    Every group must match (stop words may), or with ``any_group`` any one; a learnt
    phrase matches as a unit or by its own words. FTS5 analyses the typed words
    itself; a prefix is a prefix query on its stems. Edit distance has no FTS5 form,
    so the fallback engine finds typos only by prefix.
    """
    parts: list[str] = []
    for group in plan.groups if any_group else plan.required:
        alternatives = _alternatives(group)
        pieces = [_either(a) for a in (_alternatives(p) for p in group.parts) if a]
        if pieces and any_group:
            alternatives += pieces
        elif pieces:
            alternatives.append("(" + " AND ".join(pieces) + ")")
        if alternatives:
            parts.append(_either(alternatives))
    return (" OR " if any_group else " AND ").join(parts)
