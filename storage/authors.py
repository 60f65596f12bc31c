"""Forgiving author look-up: case, name order, hyphens, initials and small typos."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from storage.models import AuthorMatch
from storage.text import author_key


@dataclass(slots=True)
class AuthorIndex:
    """Every author's key, name and paper count, with sorted views for prefix look-ups."""

    keys: list[str]
    names: list[str]
    counts: list[int]
    spaced: list[str] = field(default_factory=list)
    by_prefix: list[tuple[str, int]] = field(default_factory=list)
    by_surname: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: list[tuple[str, str, int]]) -> AuthorIndex:
        index = cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        index.spaced = [k.replace("-", " ") for k in index.keys]
        prefixes: list[tuple[str, int]] = []
        for i, key in enumerate(index.keys):
            pieces = key.split("-")
            # Each rotation, so "hwang" and "sangheum" both start a key.
            for j in range(len(pieces)):
                prefixes.append((" ".join(pieces[j:] + pieces[:j]), i))
            index.by_surname.setdefault(pieces[-1], []).append(i)
        prefixes.sort()
        index.by_prefix = prefixes
        return index

    def _prefix_hits(self, query: str, limit: int) -> set[int]:
        hits: set[int] = set()
        start = bisect.bisect_left(self.by_prefix, (query, -1))
        for text, i in self.by_prefix[start:]:
            if not text.startswith(query) or len(hits) >= limit:
                break
            hits.add(i)
        return hits

    def match(self, query: str, limit: int = 25) -> list[AuthorMatch]:
        key = author_key(query)
        if not key:
            return []
        spaced = key.replace("-", " ")
        pieces = key.split("-")
        scores: dict[int, float] = {}
        for i in self._prefix_hits(spaced, 200):
            scores[i] = 90.0 + 10.0 * len(spaced) / max(len(self.spaced[i]), 1)
        # Initials: "j lee" or "jh lee" meets "jae-hun-lee".
        if len(pieces) >= 2:
            for surname_first in (False, True):
                sur = pieces[0] if surname_first else pieces[-1]
                given = pieces[1:] if surname_first else pieces[:-1]
                initials = "".join(p[0] for p in given)
                for i in self.by_surname.get(sur, []):
                    other = self.keys[i].split("-")[:-1]
                    if all(len(p) <= 2 for p in given) and "".join(p[0] for p in other).startswith(initials):
                        scores[i] = max(scores.get(i, 0.0), 88.0)
        for _, score, i in process.extract(
            spaced, self.spaced, scorer=fuzz.token_sort_ratio, limit=limit * 2, score_cutoff=70
        ):
            scores[i] = max(scores.get(i, 0.0), float(score))
        for _, score, i in process.extract(
            spaced, self.spaced, scorer=fuzz.ratio, limit=limit * 2, score_cutoff=70
        ):
            scores[i] = max(scores.get(i, 0.0), float(score))
        for i in list(scores):
            if self.spaced[i] == spaced or sorted(self.spaced[i].split()) == sorted(spaced.split()):
                scores[i] = 100.0 + (1.0 if self.spaced[i] == spaced else 0.0)
        ranked = sorted(scores.items(), key=lambda kv: (-round(kv[1], 1), -self.counts[kv[0]], self.keys[kv[0]]))
        return [
            AuthorMatch(self.keys[i], self.names[i], self.counts[i], round(min(s, 100.0), 1))
            for i, s in ranked[:limit]
        ]
