"""A big store's author index, built in a worker process and mapped back, answers as one built here."""

from __future__ import annotations

import logging
import mmap
import random
import sys
from pathlib import Path

import pytest

from bench.corpus import CorpusGenerator
from storage import author_build
from storage.store import Store
from tests.helpers import record

QUERIES = ["hw", "kim", "sangheum hwang", "lee j", "zhang", "mar", "jungwoo chea", "a", "qqqqzzzz", "wang, x"]


def _records(n: int) -> list:
    pool = CorpusGenerator(3_000, seed=3).vocab.authors
    rng = random.Random(7)
    return [record(f"Paper {i}", *rng.sample(pool, rng.randint(1, 3))) for i in range(n)]


async def _answers(store: Store) -> list[list[tuple[str, str, int, float]]]:
    return [[(m.key, m.name, m.papers, m.score) for m in await store.match_authors(q, 25)] for q in QUERIES]


async def test_the_mapped_index_answers_as_the_one_built_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await Store.open(tmp_path / "a.db", search_index=False) as store:
        await store.ingest(_records(1_500), source="s")
        monkeypatch.setattr(author_build, "WORKER_AUTHORS", 10**9)
        here = await _answers(store)
        assert store.author_index_build is not None and not store.author_index_build.in_worker
        store._author_lookup.forget()
        monkeypatch.setattr(author_build, "WORKER_AUTHORS", 1)
        mapped = await _answers(store)
        index = store._author_lookup._held[1]  # type: ignore[index]
        assert isinstance(index._blob, mmap.mmap) and isinstance(index.names.parts()[0], mmap.mmap)
        assert store.author_index_build is not None and store.author_index_build.in_worker
        assert store.author_index_build.worker_peak_mb > 5  # the worker's own peak, reported back
        assert sum(len(a) for a in here) > 50 and mapped == here
        # The worker's file is unlinked once mapped: nothing is left beside the store.
        assert sorted(p.name for p in tmp_path.iterdir() if "authors" in p.name) == []

        # A new author arrives: the next look-up builds (in the worker) and finds them.
        await store.ingest([record("Fresh", "Zygmunt Quillfeather")], source="s")
        [found] = await store.match_authors("quillfeather", 5)
        assert (found.key, found.papers) == ("zygmunt-quillfeather", 1)
        assert isinstance(store._author_lookup._held[1]._blob, mmap.mmap)  # type: ignore[index]


async def test_an_empty_store_maps_an_empty_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(author_build, "WORKER_AUTHORS", 0)
    async with await Store.open(tmp_path / "e.db", search_index=False) as store:
        assert await store.match_authors("kim", 5) == []
        await store.ingest([record("Only", "Ada Lovelace")], source="s")
        assert [m.key for m in await store.match_authors("lovel", 5)] == ["ada-lovelace"]


async def test_a_store_in_an_odd_folder_is_read_by_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(author_build, "WORKER_AUTHORS", 1)
    folder = tmp_path / "lab #2? 100%"
    async with await Store.open(folder / "a.db", search_index=False) as store:
        await store.ingest([record("Only", "Ada Lovelace")], source="s")
        assert [m.key for m in await store.match_authors("lovel", 5)] == ["ada-lovelace"]
        assert store.author_index_build is not None and store.author_index_build.in_worker


async def test_no_worker_means_a_build_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="storage.author_build")
    monkeypatch.setattr(author_build, "WORKER_AUTHORS", 1)
    async with await Store.open(tmp_path / "a.db", search_index=False) as store:
        await store.ingest([record("Only", "Ada Lovelace")], source="s")
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
        assert [m.key for m in await store.match_authors("lovel", 5)] == ["ada-lovelace"]
        assert store.author_index_build is not None and not store.author_index_build.in_worker
    assert "no worker process could start" in caplog.text
    assert [p.name for p in tmp_path.iterdir() if "authors" in p.name] == []
