"""The flat author index answers exactly as scoring every author would, and the store keeps it current."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.corpus import CorpusGenerator
from storage import author_index
from storage.author_index import AuthorIndex
from storage.authors import PREFIX, score_many
from storage.store import Store
from storage.text import author_key
from tests.helpers import record


@pytest.fixture(scope="module")
def authors() -> list[tuple[str, int]]:
    """2,000 generated names (shared surnames, Korean, initialled, particled) with long-tailed counts."""
    pool = CorpusGenerator(5_000, seed=3).vocab.authors
    rng = random.Random(5)
    keys = list(dict.fromkeys(author_key(name) for name in pool))[:2_000]
    return [(key, max(1, int(rng.paretovariate(1.2)))) for key in keys]


def brute_force(rows: list[tuple[str, int]], query: str, limit: int) -> list[tuple[str, float]]:
    """Every author scored in Python, best tier then most papers then key: what the index must match."""
    pieces = author_key(query).split("-")
    scores = score_many(pieces, [key.split("-") for key, _ in rows])
    scored = [(key, score, count) for (key, count), score in zip(rows, scores, strict=True)]
    scored.sort(key=lambda s: (-round(s[1], 1), -s[2], s[0]))
    return [(key, score) for key, score, _ in scored[:limit] if score >= PREFIX]


def strong(index: AuthorIndex, query: str, limit: int) -> list[tuple[str, float]]:
    return [(index.key(c.index), c.score) for c in index.candidates(query, limit) if c.score >= PREFIX]


QUERIES = ["le", "lee", "kim", "ki", "k", "ji", "jae", "jae hun", "jaehun", "hun", "lee jae", "j lee", "j. s",
           "ji su", "ma li", "van", "van der", "de", "wang", "an", "s", "mar", "maria", "hee min", "min hee",
           "Lee, Jae-Hun", "sm", "y", "zz", "john smith", "wei l"]


@pytest.mark.parametrize("scan", [author_index.SCAN, 40])
def test_exact_and_prefix_tiers_match_scoring_every_author(
    authors: list[tuple[str, int]], scan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a small SCAN almost every prefix keeps its best ranks, so the crowded paths are taken too.
    monkeypatch.setattr(author_index, "SCAN", scan)
    index = AuthorIndex(authors)
    for query in QUERIES:
        expected = brute_force(authors, query, 25)
        for limit in (1, 8, 25):
            assert strong(index, query, limit) == expected[:limit], (query, limit)


def test_rows_in_any_order_give_the_same_index(authors: list[tuple[str, int]]) -> None:
    shuffled = authors[:]
    random.Random(1).shuffle(shuffled)
    by_rank = sorted(authors, key=lambda row: (-row[1], row[0]))
    expected = [key for key, _ in by_rank]
    # By key is how the store reads them; by rank and shuffled take the other two paths.
    for rows in (sorted(authors), by_rank, shuffled):
        index = AuthorIndex(rows)
        assert [index.key(i) for i in range(len(index))] == expected
        assert list(index.counts) == [count for _, count in by_rank]
        assert [index.key(c.index) for c in index.candidates("kim", 25)] == \
            [key for key, _ in brute_force(authors, "kim", 25)]


def test_typos_find_the_person_meant(authors: list[tuple[str, int]]) -> None:
    index = AuthorIndex([*authors, ("jungwoo-chae", 3), ("sangheum-hwang", 22), ("dasol-hwang", 1)])
    for typed, meant in [("sangheum hwnag", "sangheum-hwang"), ("sanghuem hwang", "sangheum-hwang"),
                         ("jungwoo chea", "jungwoo-chae"), ("Hwang, Sngheum", "sangheum-hwang")]:
        found = index.candidates(typed, 5)
        assert found and index.key(found[0].index) == meant, (typed, [index.key(c.index) for c in found])
        assert found[0].score < PREFIX  # a typo never poses as an exact match
    assert index.candidates("qqqqzzzz", 5) == []
    assert AuthorIndex([]).candidates("kim", 5) == []


async def test_store_rebuilds_the_index_when_papers_arrive(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "a.db", search_index=False) as store:
        await store.ingest([record("P1", "Dasol Hwang"), record("P2", "Sangheum Hwang")], source="s")
        first = await store.match_authors("hw")
        assert [(m.key, m.papers) for m in first] == [("dasol-hwang", 1), ("sangheum-hwang", 1)]
        await store.ingest([record(f"Q{i}", "Sangheum Hwang") for i in range(3)], source="s")
        again = await store.match_authors("hw")
        assert [(m.key, m.name, m.papers) for m in again] == [
            ("sangheum-hwang", "Sangheum Hwang", 4), ("dasol-hwang", "Dasol Hwang", 1)]
