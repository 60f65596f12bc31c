"""A load into an empty store indexed by a process beside it: what it indexes, and loads that fail or lose it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.errors import InvalidInputError
from storage.models import PaperRecord
from storage.store import Store, index_folder
from tests.helpers import record

FEED = "paperboy-index-feed"


def papers(n: int, word: str = "quokka", start: int = 0) -> list[PaperRecord]:
    # Each title holds its own rare word, so a search names exactly one paper.
    return [record(f"{word.title()} Study {word}{i} of Gradient Noise", f"Author {i % 11} Smith")
            for i in range(start, start + n)]


def feeds_alive() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == FEED]


async def titles(store: Store, query: str) -> list[str]:
    return [p.title for p in await store.search(query)]


def log_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM search_log").fetchone()[0])


async def test_a_load_into_an_empty_store_is_indexed_beside_it_and_needs_no_rebuild(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "s.db"
    async with await Store.open(db) as store:
        store.index_feed_at = 50
        report = await store.ingest(papers(120), source="lab")
        assert report.new == 120
        said = caplog.text
        assert "120 papers indexed beside the store" in said
        assert "search index rebuilt" not in said and "applied" not in said
        assert await titles(store, "quokka77") == ["Quokka Study quokka77 of Gradient Noise"]
        assert store.search_index.count() == 120
        assert not feeds_alive()
    assert log_rows(db) == 0  # the index's marker was the store's last change: the log was pruned
    caplog.clear()
    async with await Store.open(db) as store:  # and a store opened again finds the index current
        assert await titles(store, "quokka3") == ["Quokka Study quokka3 of Gradient Noise"]
    assert "rebuilt" not in caplog.text


async def test_a_small_load_or_one_into_a_store_with_papers_is_indexed_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with await Store.open(tmp_path / "s.db") as store:
        store.index_feed_at = 50
        await store.ingest(papers(30), source="lab")  # under the threshold
        assert "indexed beside the store" not in caplog.text
        await store.ingest(papers(80, "wombat"), source="lab")  # enough, but the store has papers now
        assert "indexing the load in a process" not in caplog.text
        assert await titles(store, "wombat5") == ["Wombat Study wombat5 of Gradient Noise"]
        assert store.search_index.count() == 110


def failing(records: list[PaperRecord], after: int) -> Iterator[PaperRecord]:
    for i, r in enumerate(records):
        if i == after:
            raise InvalidInputError("the listing broke off here")
        yield r


async def test_a_load_that_rolls_back_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db") as store:
        store.index_feed_at = 50
        with pytest.raises(InvalidInputError, match="broke off"):
            await store.ingest(failing(papers(120), after=100), source="lab", size_hint=120)
        assert not feeds_alive()
        assert await store.count_papers() == 0
        assert await titles(store, "quokka7") == []
        assert store.search_index.count() == 0
        # The next load is fed and committed as usual.
        await store.ingest(papers(60, "wombat"), source="lab")
        assert await titles(store, "wombat59") == ["Wombat Study wombat59 of Gradient Noise"]
        assert store.search_index.count() == 60


def killing_the_feed(records: list[PaperRecord], at: int) -> Iterator[PaperRecord]:
    for i, r in enumerate(records):
        if i == at:
            for process in feeds_alive():
                os.kill(process.pid, signal.SIGKILL)
        yield r


async def test_a_feed_that_dies_leaves_the_index_to_be_rebuilt_from_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with await Store.open(tmp_path / "s.db") as store:
        store.index_feed_at = 50
        report = await store.ingest(killing_the_feed(papers(120), at=60), source="lab", size_hint=120)
        assert report.new == 120
        assert "indexing the load beside the store failed" in caplog.text
        assert "search index rebuilt: 120 papers" in caplog.text
        assert await titles(store, "quokka119") == ["Quokka Study quokka119 of Gradient Noise"]
        assert store.search_index.count() == 120
        assert not feeds_alive()


async def test_a_feed_that_cannot_write_the_index_leaves_it_to_the_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "s.db"
    async with await Store.open(db) as holder:  # another process's writer, as a service beside the CLI
        await holder.sync_index()
        async with await Store.open(db) as store:
            store.index_feed_at = 50
            await store.ingest(papers(120), source="lab")
            assert "indexing the load beside the store failed" in caplog.text
            assert "could not be written" in caplog.text
        # The writer that holds the index catches up with what the other store committed.
        assert await titles(holder, "quokka42") == ["Quokka Study quokka42 of Gradient Noise"]
    assert index_folder(db).is_dir()
