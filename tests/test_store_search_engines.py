"""The store's search index on disk and in memory (``search_index=False``) find the same papers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage.store import Store, index_folder
from tests.helpers import REPO

DEMO = REPO / "examples" / "lab.txt"
QUERIES = ["diffusion", "SSL", "self-supervised learning", "out-of-distribution detection", "OoDD",
           "domain adaptation", '"concept erasure"', "Hwang", "zzzz nothing", "", "NEAR(", "c++ -x"]


async def _filled(path: Path, *, search_index: bool) -> Store:
    from feeds.sources.listing import parse_listing_file

    store = await Store.open(path, search_index=search_index)
    await store.ingest(parse_listing_file(DEMO).records, source="demo", owner="Sangheum Hwang")
    await store.link_pending_topics()
    return store


@pytest.mark.parametrize("query", QUERIES)
async def test_same_papers_either_way(tmp_path: Path, query: str) -> None:
    with_index = await _filled(tmp_path / "a.db", search_index=True)
    in_memory = await _filled(tmp_path / "b.db", search_index=False)
    try:
        assert with_index.search_index.folder == index_folder(tmp_path / "a.db")
        assert in_memory.search_index.folder is None and not index_folder(tmp_path / "b.db").exists()
        a = [p.title for p in await with_index.search(query, limit=50)]
        b = [p.title for p in await in_memory.search(query, limit=50)]
        assert a == b
        assert await with_index.count_matches(query) == await in_memory.count_matches(query)
    finally:
        await with_index.close()
        await in_memory.close()


async def test_title_ranks_first_in_both(tmp_path: Path) -> None:
    for flag in (True, False):
        store = await _filled(tmp_path / f"{flag}.db", search_index=flag)
        try:
            top = (await store.search("Parallel Rescaling"))[0]
            assert top.title.startswith("Parallel Rescaling"), flag
        finally:
            await store.close()


async def test_lost_index_is_rebuilt_on_open_and_reindex_works(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = await _filled(path, search_index=True)
    expected = [p.key for p in await store.search("diffusion")]
    await store.close()
    shutil.rmtree(index_folder(path))
    store = await Store.open(path)
    try:
        assert [p.key for p in await store.search("diffusion")] == expected
        await store.reindex()
        assert [p.key for p in await store.search("diffusion")] == expected
    finally:
        await store.close()


async def test_ingest_by_another_connection_is_searchable(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    service = await Store.open(path)
    try:
        assert await service.search("diffusion") == []
        # Another process's ingest (the CLI beside a running service): its own store, no index lock.
        other = await _filled(path, search_index=False)
        await other.close()
        assert len(await service.search("diffusion")) >= 3
    finally:
        await service.close()
