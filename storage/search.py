"""What every search engine path shares: the query size limits and the learnt acronym ⇄ phrase pairs."""

from __future__ import annotations

from dataclasses import dataclass

MAX_TOKENS = 24
MAX_QUERY_CHARS = 5_000


@dataclass(frozen=True, slots=True)
class Expansions:
    """Acronym ⇄ phrase pairs the topic learner knows (folded phrase, acronym as written)."""

    by_acronym: dict[str, str]  # folded acronym -> folded phrase
    by_phrase: dict[str, str]  # folded phrase -> acronym
