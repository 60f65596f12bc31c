"""Forgiving author look-up that picks the person meant: exact names first, then prefixes, then typos.

Every author key is split into name pieces ("jae-hun-lee" → jae, hun, lee), and
a given name written in several pieces is also a name whole ("jaehun"). Matches
are ranked in tiers, and within a tier by paper count: the whole name (100);
exactly the surname or the given name, e.g. ``hwang`` or ``jungwoo`` (95);
every piece typed is a whole piece of the name (90); every piece typed starts
one (80, what autocomplete sees from the second letter); then typos, by
similarity (below 75), looked for only when nothing starts with what was typed.

The index (``storage.author_index``) numbers authors by that order (most papers
first, then key), so "the best k of a tier" is "the k smallest numbers", read
off sorted arrays rather than scored in Python; only typos and multi-piece
edge cases are scored one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored author: rank in the AuthorIndex (its number), closeness 0-100+."""

    index: int
    score: float


FULL, PART, PIECES, PREFIX, FUZZY_MAX = 100.0, 95.0, 90.0, 80.0, 75.0
ALSO_MATCHING = 60.0  # below this a fuzzy match is not worth naming beside a better one


def also_matching(scores: list[float]) -> list[int]:
    """Which matches after the first are worth naming: every one that matches about as well."""
    if not scores:
        return []
    floor = ALSO_MATCHING if scores[0] >= PREFIX else 0.8 * scores[0]
    return [i for i, s in enumerate(scores[1:], 1) if s >= floor]


def _given(pieces: list[str]) -> str:
    return "".join(pieces[:-1])


def name_set(pieces: list[str]) -> set[str]:
    """The names an author is found by: each piece, and a given name of several pieces whole."""
    names = set(pieces)
    if len(pieces) > 2:
        names.add(_given(pieces))  # "JungWoo Chae" is found by "jungwoo" too
    return names


def _tier(query_pieces: list[str], pieces: list[str]) -> float:
    """The tier a name reaches without similarity: FULL, PART, PIECES, PREFIX, or 0.0."""
    joined = "".join(query_pieces)
    given = _given(pieces)
    surname = pieces[-1]
    if len(query_pieces) == 1:
        if joined == surname or joined == given:
            return PART
    else:
        # Every whole-name form has the typed letters, no more, no fewer.
        if len(joined) == len(given) + len(surname) and (
                joined == given + surname or joined == surname + given
                or sorted(query_pieces) == sorted(pieces)
                or (len(query_pieces) == 2 and sorted(query_pieces) == sorted([surname, given]))):
            return FULL
        if joined == surname or joined == given:
            return PART
    names = (*pieces, given)
    if not all(any(n.startswith(q) for n in names) for q in query_pieces):
        return 0.0
    return PIECES if all(q in names for q in query_pieces) else PREFIX


def score_names(query_pieces: list[str], pieces: list[str]) -> float:
    """How well a name (its key's pieces) matches the query's pieces (see the module's tiers)."""
    return _tier(query_pieces, pieces) or score_many(query_pieces, [pieces])[0]


def score_many(query_pieces: list[str], names: list[list[str]]) -> list[float]:
    """``score_names`` for many names at once: the similarity of those below the tiers in one C call each."""
    scores = [_tier(query_pieces, pieces) for pieces in names]
    fuzzy = [i for i, s in enumerate(scores) if not s]
    if not fuzzy:
        return scores
    joined, spaced = "".join(query_pieces), " ".join(query_pieces)
    others = [" ".join(names[i]) for i in fuzzy]
    if len(query_pieces) == 1:
        lists = [(joined, [_given(names[i]) for i in fuzzy], fuzz.ratio),
                 (joined, [names[i][-1] for i in fuzzy], fuzz.ratio), (spaced, others, fuzz.ratio)]
    else:
        lists = [(spaced, others, fuzz.ratio), (spaced, others, fuzz.token_sort_ratio)]
    best = [0.0] * len(fuzzy)
    for query, choices, scorer in lists:
        for _, similarity, at in process.extract(query, choices, scorer=scorer, processor=None, limit=None):
            best[at] = max(best[at], similarity)
    for at, i in enumerate(fuzzy):
        scores[i] = FUZZY_MAX * best[at] / 100.0
    return scores


def ranked(found: list[Candidate], limit: int) -> list[Candidate]:
    """Best tier first, then the index's own order (most papers, then key)."""
    found.sort(key=lambda c: (-round(c.score, 1), c.index))
    return found[:limit]


__all__ = ["ALSO_MATCHING", "Candidate", "also_matching", "name_set", "ranked", "score_many", "score_names"]
