"""A batch that dwarfs the store builds its secondary indexes at its end; a failed one leaves them as they were."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from storage import ingest_batch
from storage.store import Store
from tests.helpers import record


def _indexes(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"))
    finally:
        conn.close()


def _pairs(path: Path) -> tuple[list[tuple], list[tuple], int]:
    """paper_topics turned round, topic_papers, and how many pairs wait in topic_papers_recent."""
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT topic_id, paper_id FROM paper_topics ORDER BY 1, 2").fetchall(),
                conn.execute("SELECT topic_id, paper_id FROM topic_papers ORDER BY 1, 2").fetchall(),
                conn.execute("SELECT count(*) FROM topic_papers_recent").fetchone()[0])
    finally:
        conn.close()


def _integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def _batch(n: int, start: int = 0) -> list:
    return [
        record(f"Sparse graph kernels number {i}", f"Author {i % 7}", f"Coauthor {i % 3}",
               abstract="We prune sparse graph kernels.", category="LG" if i % 2 else "CV")
        for i in range(start, start + n)
    ]


async def test_a_batch_that_dwarfs_the_store_rebuilds_the_same_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ingest_batch, "BULK_RECORDS", 10)
    path = tmp_path / "bulk.db"
    async with await Store.open(path) as store:
        before = _indexes(path)
        assert set(ingest_batch.BULK_INDEXES) <= set(before)
        with caplog.at_level(logging.INFO, logger="storage.ingest_batch"):
            report = await store.ingest(_batch(30), source="s")
        assert report.new == 30
        assert any("building 4 indexes and the topic pairs at its end" in r.getMessage() for r in caplog.records)
        assert _indexes(path) == before  # the trigger that keeps topic_papers too
        links, by_topic, recent = _pairs(path)
        assert len(links) > 30 and by_topic == links and recent == 0  # written again, sorted
        assert _integrity(path) == ["ok"]
        # The rebuilt indexes answer: papers of a category, of a topic, of an author.
        assert len(await store.latest(limit=100, topic_slug="lg")) == 15
        assert (await store.topic("sparse-graph-kernel")).papers == 30  # type: ignore[union-attr]
        caplog.clear()
        # Twenty more into thirty stored is not a bulk batch: the indexes stay.
        with caplog.at_level(logging.INFO, logger="storage.ingest_batch"):
            await store.ingest(_batch(20, start=30), source="s")
        assert not any("indexes at its end" in r.getMessage() for r in caplog.records)
        assert _indexes(path) == before
        assert (await store.topic("sparse-graph-kernel")).papers == 50  # type: ignore[union-attr]
        links, by_topic, recent = _pairs(path)
        assert recent > 20 and len(by_topic) + recent == len(links)  # the small batch's pairs wait apart


async def test_a_bulk_batch_that_fails_keeps_every_index_and_paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_batch, "BULK_RECORDS", 10)
    path = tmp_path / "failed.db"

    def stop(done: int) -> None:
        raise RuntimeError(f"stopped after {done}")

    async with await Store.open(path) as store:
        before = _indexes(path)
        with pytest.raises(RuntimeError, match="stopped after 500"):
            await store.ingest(_batch(600), source="s", progress=stop)
        assert await store.count_papers() == 0
        assert _indexes(path) == before
        assert (await store.ingest(_batch(3), source="s")).new == 3
    assert _integrity(path) == ["ok"]
