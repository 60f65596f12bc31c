"""Searches through the index in one thread call: fresh after every write, here or in another process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.models import PaperRecord
from storage.store import Store


def record(title: str, abstract: str, author: str = "Ada Lovelace") -> PaperRecord:
    return PaperRecord(title=title, authors=(author,), abstract=abstract)


PAPERS = [
    record("Graph Networks for Molecules", "message passing over molecular graphs"),
    record("Kernels on Graphs", "graph kernels compare networks of atoms"),
    record("Image Networks", "convolutional networks for images"),
    record("Graph Attention", "attention over graph networks and graph kernels", "Grace Hopper"),
    record("Sparse Networks", "pruning networks"),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "paperboy.db")
    try:
        await s.ingest(PAPERS, source="s")
        yield s
    finally:
        await s.close()


@pytest.mark.parametrize("query", ["networks", "graph", "graph networks", '"graph networks"', "kernels attention"])
async def test_explained_and_plain_searches_agree_on_the_order(store: Store, query: str) -> None:
    plain = [p.title for p in await store.search(query, 10)]
    explained = [h.paper.title for h in await store.search_hits(query, 10, explain=True)]
    assert plain and plain == explained
    # Pages are slices of the same order.
    assert [p.title for p in await store.search(query, 2, 1)] == plain[1:3]


async def test_a_write_is_seen_by_the_next_search(store: Store) -> None:
    assert await store.search("zeolite") == []
    await store.ingest([record("Zeolite Catalysis", "zeolite pores")], source="s")
    assert [p.title for p in await store.search("zeolite")] == ["Zeolite Catalysis"]
    assert await store.count_matches("zeolite") == 1


async def test_a_write_by_another_process_is_seen(store: Store, tmp_path: Path) -> None:
    assert await store.count_matches("graph networks") == 3
    other = await Store.open(tmp_path / "paperboy.db", search_index=False)
    try:
        await other.ingest([record("Graph Networks Again", "graph networks once more")], source="t")
    finally:
        await other.close()
    assert await store.count_matches("graph networks") == 4
    assert "Graph Networks Again" in [p.title for p in await store.search("graph networks")]


async def test_a_query_naming_a_person_brings_their_papers(store: Store) -> None:
    hits = await store.search_hits("Grace Hopper", 10)
    assert [h.paper.title for h in hits] == ["Graph Attention"]
    assert hits[0].paper.authors == ("Grace Hopper",) and hits[0].paper.sources == ("s",)
