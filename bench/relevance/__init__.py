"""Search relevance measured on hand-graded judgments: nDCG@5 and recall@10 beside a plain BM25 baseline.

The judgments (``judgments.toml`` beside this file) grade the lab's 22 papers for
each query. Every query is answered two ways over the same papers: by
``Store.search`` on the Tantivy index (what ``paperboy search`` answers with), and
by a plain BM25 baseline built here: an SQLite FTS5 table with the porter tokenizer, the
query's words joined by OR, ranked by ``bm25()``.
"""

from __future__ import annotations

import math
import sqlite3
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from storage.store import Store
from storage.text import words

HERE = Path(__file__).resolve().parent
JUDGMENTS = HERE / "judgments.toml"
REPO = HERE.parents[1]
DEMO = REPO / "paperboy" / "demo" / "lab.txt"
SEED = REPO.parent / "shared" / "seeds" / "000_c2aa908472245cfd.txt"
SEED_AS_OF = date(2026, 11, 25)
OWNER = "Sangheum Hwang"
ENGINES = ("paperboy search", "BM25 baseline (FTS5 porter, OR)")


@dataclass(frozen=True, slots=True)
class Judged:
    """One query with its graded papers (key -> grade 1..3)."""

    text: str
    kind: str
    grades: dict[str, int]


@dataclass(slots=True)
class Scores:
    """Mean nDCG@5 and recall@10 of one engine on one dataset, with each query's pair."""

    ndcg5: float = 0.0
    recall10: float = 0.0
    per_query: dict[str, tuple[float, float]] = field(default_factory=dict)


def load_judgments(path: Path = JUDGMENTS) -> list[Judged]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    papers: dict[str, str] = data["papers"]
    out = []
    for i, q in enumerate(data["query"], 1):
        grades = {}
        for name, grade in q["grades"].items():
            if name not in papers:
                raise ValueError(f"{path}: query {i} ({q['text']!r}) grades unknown paper {name!r}")
            if grade not in (1, 2, 3):
                raise ValueError(f"{path}: query {i} ({q['text']!r}) gives {name} grade {grade}; use 1, 2 or 3")
            grades[papers[name]] = int(grade)
        out.append(Judged(q["text"], q["kind"], grades))
    return out


def ndcg_at(ranked: Sequence[str], grades: dict[str, int], k: int = 5) -> float:
    def dcg(gains: Sequence[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(key, 0) for key in ranked]) / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    relevant = {key for key, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


class Bm25Baseline:
    """The plain keyword engine: FTS5 porter over title and abstract, words ORed, bm25 order."""

    def __init__(self, papers: Sequence[tuple[str, str, str]]) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(key UNINDEXED, title, abstract, tokenize='porter')"
        )
        self.conn.executemany("INSERT INTO docs VALUES (?, ?, ?)", papers)

    def search(self, text: str, limit: int = 10) -> list[str]:
        tokens = words(text)
        if not tokens:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in tokens)
        rows = self.conn.execute(
            "SELECT key FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?", (match, limit)
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


def _score(judged: Sequence[Judged], answer: Callable[[str], list[str]]) -> Scores:
    scores = Scores()
    for q in judged:
        ranked = answer(q.text)
        scores.per_query[q.text] = (ndcg_at(ranked, q.grades), recall_at(ranked, q.grades))
    n = len(judged) or 1
    scores.ndcg5 = sum(v[0] for v in scores.per_query.values()) / n
    scores.recall10 = sum(v[1] for v in scores.per_query.values()) / n
    return scores


async def _filled_store(listing: Path, folder: Path, *, search_index: bool, as_of: date | None) -> Store:
    from feeds.sources.listing import parse_listing_file

    store = await Store.open(folder / ("indexed.db" if search_index else "in-memory.db"), search_index=search_index)
    await store.ingest(parse_listing_file(listing, as_of=as_of).records, source=listing.name, owner=OWNER)
    await store.link_pending_topics()
    return store


async def evaluate(listing: Path, judged: Sequence[Judged], *, as_of: date | None = None,
                   engines: Sequence[str] = ENGINES) -> dict[str, Scores]:
    """Every engine's scores on the papers of ``listing`` (each built afresh in a temporary folder)."""
    out: dict[str, Scores] = {}
    with tempfile.TemporaryDirectory(prefix="paperboy-relevance-") as tmp:
        folder = Path(tmp)
        keys: set[str] = set()
        if ENGINES[0] in engines:
            store = await _filled_store(listing, folder, search_index=True, as_of=as_of)
            try:
                answers = {q.text: [p.key for p in await store.search(q.text, limit=10)] for q in judged}
                papers = await store.all_papers()
            finally:
                await store.close()
            keys = {p.key for p in papers}
            out[ENGINES[0]] = _score(judged, answers.__getitem__)
            baseline_rows = [(p.key, p.title, p.abstract) for p in papers]
        if ENGINES[1] in engines:
            if not keys:
                store = await _filled_store(listing, folder, search_index=False, as_of=as_of)
                try:
                    baseline_rows = [(p.key, p.title, p.abstract) for p in await store.all_papers()]
                finally:
                    await store.close()
            bm25 = Bm25Baseline(baseline_rows)
            try:
                out[ENGINES[1]] = _score(judged, bm25.search)
            finally:
                bm25.close()
    return out


def datasets() -> list[tuple[str, Path, date | None]]:
    """(name, listing, as-of date) for the demo listing, and the seed when ../shared is there."""
    found: list[tuple[str, Path, date | None]] = [("demo (paperboy/demo/lab.txt)", DEMO, None)]
    if SEED.exists():
        found.append(("seed (../shared/seeds/000_c2aa908472245cfd.txt)", SEED, SEED_AS_OF))
    return found


__all__ = ["ENGINES", "Bm25Baseline", "Judged", "Scores", "datasets", "evaluate", "load_judgments",
           "ndcg_at", "recall_at"]
