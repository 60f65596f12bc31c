"""The author index as it was before issue 16, kept only as the author benchmark's baseline.

Every author key as a Python string, an inverted index of name pieces as a dict
of arrays and per-shape lists for typos; candidates are scored in Python. The
service uses ``storage.authors.AuthorIndex``; ``bench.author_bench`` times this
one beside it on the same rows. Its tiers and scores are ``storage.authors``'s.
"""

from __future__ import annotations

import bisect
import heapq
from array import array

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from storage.authors import FUZZY_MAX, PART, PREFIX, Candidate, _given, score_names
from storage.text import author_key

MAX_PREFIX_PIECES = 3_000
MAX_CANDIDATES = 1_000
PREFIX_TAKE = 100
MAX_TYPO_CANDIDATES = 300
SHORT_PREFIX_PIECES = 200


class AuthorIndexV1:
    """Author keys and paper counts with an inverted index of their name pieces."""

    def __init__(self, keys: list[str], counts: list[int]) -> None:
        self.keys = keys
        self.counts = array("I", counts)
        postings: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            pieces = key.split("-")
            names = set(pieces)
            if len(pieces) > 2:
                names.add(_given(pieces))  # "JungWoo Chae" is found by "jungwoo" too
            for piece in names:
                postings.setdefault(piece, []).append(i)
        # Each posting list most prolific first, so a short prefix takes only the heads it needs.
        by_count = self.counts.__getitem__
        self.postings = {piece: array("I", sorted(ids, key=by_count, reverse=True))
                         for piece, ids in postings.items()}
        self.pieces = sorted(self.postings)
        # One or two letters start thousands of pieces: keep, for each start, those with the most
        # prolific authors.
        by_pair: dict[str, list[str]] = {}
        for piece in self.pieces:
            by_pair.setdefault(piece[:1], []).append(piece)
            if len(piece) > 1:
                by_pair.setdefault(piece[:2], []).append(piece)
        self.by_pair = {pair: heapq.nlargest(SHORT_PREFIX_PIECES, found, key=lambda p: self.counts[self.postings[p][0]])
                        if len(found) > SHORT_PREFIX_PIECES else found for pair, found in by_pair.items()}
        # Typos are looked for among pieces of the same initial and a similar length only.
        by_shape: dict[tuple[str, int], list[str]] = {}
        for piece in self.pieces:
            by_shape.setdefault((piece[0], len(piece)), []).append(piece)
        self.by_shape = by_shape

    def __len__(self) -> int:
        return len(self.keys)

    def _pieces_for(self, query_piece: str, typos: bool = True) -> set[str]:
        """Name pieces that ``query_piece`` starts, or (with ``typos``) is a small typo of."""
        if len(query_piece) <= 2:
            found = set(self.by_pair.get(query_piece, ()))
            if query_piece in self.postings:
                found.add(query_piece)
            return found
        start = bisect.bisect_left(self.pieces, query_piece)
        stop = min(len(self.pieces), start + MAX_PREFIX_PIECES)
        end = bisect.bisect_left(self.pieces, query_piece + "\uffff", start, stop)
        found = set(self.pieces[start:end])
        if typos and len(query_piece) >= 4:
            cutoff = 1 if len(query_piece) < 7 else 2
            n = len(query_piece)
            for length in range(n - cutoff, n + cutoff + 1):
                bucket = self.by_shape.get((query_piece[0], length), [])
                for piece, _, _ in process.extract(
                    query_piece, bucket, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=20
                ):
                    found.add(piece)
        return found

    def _authors_for(self, query_piece: str, pieces: set[str]) -> list[int]:
        """Authors with any of ``pieces``: all of an exact piece's, the most prolific of the rest."""
        out: list[int] = list(self.postings[query_piece][:MAX_CANDIDATES]) if query_piece in pieces else []
        heads = [(-self.counts[ids[0]], piece, 0) for piece in pieces if piece != query_piece
                 for ids in (self.postings[piece],)]
        heapq.heapify(heads)
        while heads and len(out) < MAX_CANDIDATES + PREFIX_TAKE:
            _, piece, at = heapq.heappop(heads)
            ids = self.postings[piece]
            out.append(ids[at])
            if at + 1 < len(ids) and len(out) < MAX_CANDIDATES + PREFIX_TAKE:
                heapq.heappush(heads, (-self.counts[ids[at + 1]], piece, at + 1))
            if len(out) >= len(self.postings.get(query_piece, ())) + PREFIX_TAKE:
                break
        return out

    def score(self, query_pieces: list[str], index: int) -> float:
        return score_names(query_pieces, self.keys[index].split("-"))

    def candidates(self, query: str, limit: int) -> list[Candidate]:
        key = author_key(query)
        if not key:
            return []
        # Typos are looked for only when the names the query starts do not fill the answer.
        exact = self._candidates(key.split("-"), limit, typos=False)
        if exact and exact[0].score >= PREFIX:
            return exact
        return self._candidates(key.split("-"), limit, typos=True)

    def _first_scored(self, query_pieces: list[str], ordered: list[int], limit: int) -> list[Candidate]:
        """Score authors most prolific first, stopping once ``limit`` match a whole name part.

        Later authors have fewer papers, so none of them could outrank those already found.
        """
        scored = []
        whole_parts = 0
        seen: set[int] = set()
        for i in ordered:
            if i in seen:
                continue  # found again through another of their pieces
            seen.add(i)
            score = self.score(query_pieces, i)
            if score >= 0.5 * FUZZY_MAX:
                scored.append(Candidate(i, score))
                if score >= PART:
                    whole_parts += 1
                    if whole_parts >= limit:
                        break
        scored.sort(key=lambda c: (-round(c.score, 1), -self.counts[c.index], self.keys[c.index]))
        return scored[:limit]

    def _candidates(self, query_pieces: list[str], limit: int, *, typos: bool) -> list[Candidate]:
        distinct = list(dict.fromkeys(query_pieces))
        matched = {q: self._pieces_for(q, typos) for q in distinct}
        if len(distinct) > 1:
            # "jung woo" also finds the whole given name "jungwoo".
            whole = "".join(distinct)
            matched[whole] = self._pieces_for(whole, typos=False)
        # The query piece with the fewest authors drives; the others filter its authors by their pieces.
        if len(distinct) == 1:
            driver = distinct[0]
        else:
            sizes = {q: sum(len(self.postings[p]) for p in matched[q]) for q in distinct}
            driver = min(distinct, key=sizes.__getitem__)
        ordered = self._authors_for(driver, matched[driver])
        if len(distinct) == 1 and not typos:
            return self._first_scored(query_pieces, ordered, limit)
        found = set(ordered)
        others = [matched[q] for q in distinct if q != driver]
        if others:
            keep = set()
            for i in found:
                pieces = self.keys[i].split("-")
                names = set(pieces) | {_given(pieces)}
                if all(names & m for m in others):
                    keep.add(i)
            whole_ids = set(self._authors_for("".join(distinct), matched["".join(distinct)]))
            found = keep | whole_ids
            if not found and typos:
                # No author has every piece: settle for those with most of them.
                for q in distinct:
                    found |= set(self._authors_for(q, matched[q])[:MAX_CANDIDATES // len(distinct)])
        if typos and len(found) > MAX_TYPO_CANDIDATES:
            # Similarity is scored in Python: only the most prolific of a typo's many namesakes.
            found = set(heapq.nlargest(MAX_TYPO_CANDIDATES, found, key=self.counts.__getitem__))
        scored = []
        for i in found:
            score = self.score(query_pieces, i)
            if score >= 0.5 * FUZZY_MAX:
                scored.append(Candidate(i, score))
        scored.sort(key=lambda c: (-round(c.score, 1), -self.counts[c.index], self.keys[c.index]))
        return scored[:limit]


__all__ = ["AuthorIndexV1"]
