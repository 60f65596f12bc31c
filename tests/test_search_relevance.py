"""Search relevance holds its floor: nDCG@5 and recall@10 on the hand-graded judgments, beside plain BM25.

The figures come from `python -m bench.relevance` (bench/relevance/); the floors sit a
little under what the ranking reached when they were set, so any change that makes
ranking worse fails here.
"""

from __future__ import annotations

import pytest

from bench.relevance import DEMO, ENGINES, SEED, SEED_AS_OF, evaluate, load_judgments, ndcg_at, recall_at
from tests.helpers import needs_seed

OURS, BM25 = ENGINES
# (nDCG@5, recall@10) floors for the store's search, per listing.
FLOORS = {
    "demo": {OURS: (0.88, 0.78)},
    "seed": {OURS: (0.94, 0.87)},
}


def test_judgments_are_many_and_varied() -> None:
    judged = load_judgments()
    assert len(judged) >= 40
    kinds = {q.kind for q in judged}
    assert {"acronym", "plural", "word form", "phrase", "misspelling", "author", "no paper has all"} <= kinds
    assert all(q.grades and max(q.grades.values()) == 3 for q in judged)


def test_metrics_can_fail() -> None:
    grades = {"a": 3, "b": 1}
    assert ndcg_at(["a", "b"], grades) == pytest.approx(1.0)
    assert ndcg_at(["b", "a"], grades) < 0.8
    assert ndcg_at(["x", "y"], grades) == 0.0
    assert recall_at(["a", "x"], grades) == 0.5


async def _check(name: str, listing, as_of) -> None:
    scores = await evaluate(listing, load_judgments(), as_of=as_of)
    base = scores[BM25]
    for engine, (ndcg, recall) in FLOORS[name].items():
        got = scores[engine]
        assert got.ndcg5 >= ndcg, f"{engine} nDCG@5 {got.ndcg5:.3f} fell below {ndcg} on the {name} listing"
        assert got.recall10 >= recall, f"{engine} recall@10 {got.recall10:.3f} fell below {recall} on {name}"
        assert got.recall10 >= base.recall10, f"{engine} recalls less than plain BM25 on {name}"
    assert scores[OURS].ndcg5 >= base.ndcg5 + 0.04, "search should beat plain BM25 clearly"


async def test_relevance_floor_on_the_demo_listing() -> None:
    await _check("demo", DEMO, None)


@needs_seed
async def test_relevance_floor_on_the_seed_listing() -> None:
    await _check("seed", SEED, SEED_AS_OF)
