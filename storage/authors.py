"""Forgiving author look-up: case, name order, hyphens, initials and small typos.

Every author key is split into pieces ("jae-hun-lee" → jae, hun, lee). A query
piece finds the name pieces it starts, or that are one or two edits from it;
an author is a candidate when every query piece found one of its pieces, so
word order, initials and prefixes all work. Only candidates are scored, which
keeps a look-up in milliseconds however many authors the store holds.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from storage.text import author_key

MAX_PREFIX_PIECES = 3_000
MAX_CANDIDATES = 3_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored author: index into the AuthorIndex, closeness 0-100+."""

    index: int
    score: float


class AuthorIndex:
    """Author keys and paper counts with an inverted index of their name pieces."""

    def __init__(self, keys: list[str], counts: list[int]) -> None:
        self.keys = keys
        self.counts = array("I", counts)
        postings: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            for piece in set(key.split("-")):
                postings.setdefault(piece, []).append(i)
        self.postings = {piece: array("I", ids) for piece, ids in postings.items()}
        self.pieces = sorted(self.postings)
        by_initial: dict[str, list[str]] = {}
        for piece in self.pieces:
            by_initial.setdefault(piece[0], []).append(piece)
        self.by_initial = by_initial

    def __len__(self) -> int:
        return len(self.keys)

    def _pieces_for(self, query_piece: str) -> set[str]:
        """Name pieces that ``query_piece`` starts, or is a small typo of."""
        found: set[str] = set()
        start = bisect.bisect_left(self.pieces, query_piece)
        for piece in self.pieces[start : start + MAX_PREFIX_PIECES]:
            if not piece.startswith(query_piece):
                break
            found.add(piece)
        if len(query_piece) >= 4:
            cutoff = 1 if len(query_piece) < 7 else 2
            bucket = self.by_initial.get(query_piece[0], [])
            for piece, _, _ in process.extract(
                query_piece, bucket, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=20
            ):
                found.add(piece)
        return found

    def _authors_with(self, pieces: set[str]) -> set[int]:
        out: set[int] = set()
        for piece in pieces:
            out.update(self.postings[piece])
        return out

    def candidates(self, query: str, limit: int) -> list[Candidate]:
        key = author_key(query)
        if not key:
            return []
        query_pieces = key.split("-")
        sets = [self._authors_with(self._pieces_for(p)) for p in dict.fromkeys(query_pieces)]
        sets.sort(key=len)
        found = set(sets[0])
        for other in sets[1:]:
            found &= other
        if not found and len(sets) > 1:
            # No author has every piece: settle for those with most of them.
            found = set().union(*sets)
        if len(found) > MAX_CANDIDATES:
            found = set(heapq.nlargest(MAX_CANDIDATES, found, key=self.counts.__getitem__))
        spaced = key.replace("-", " ")
        ordered = sorted(query_pieces)
        scored = []
        for i in found:
            other = self.keys[i].replace("-", " ")
            score = max(fuzz.ratio(spaced, other), fuzz.token_sort_ratio(spaced, other))
            if other == spaced:
                score = 101.0
            elif sorted(self.keys[i].split("-")) == ordered:
                score = 100.0
            elif other.startswith(spaced):
                score = max(score, 90.0 + 10.0 * len(spaced) / len(other))
            if score >= 50:
                scored.append(Candidate(i, score))
        scored.sort(key=lambda c: (-round(c.score, 1), -self.counts[c.index], self.keys[c.index]))
        return scored[:limit]
