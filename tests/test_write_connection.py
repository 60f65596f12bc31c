"""The bulk-write connection: reference checks off only where a writer vouches for its ids, and its page cache."""

from __future__ import annotations

import _sqlite3
import ctypes
import sqlite3
from pathlib import Path

import pytest

from storage.store import Store
from tests.helpers import record, rows


def _older(i: int):
    return record(f"Older Study {i} of Sparse Retrieval Models", "Mina Park", f"Author {i}",
                  abstract=f"We look again at vision transformers and sparse retrieval models, case {i}.")


TEACHING = record(
    "Sparse Retrieval Models for Vision Transformers", "Jae-Hun Lee",
    abstract="Vision transformers (ViT) and graph neural networks (GNN) meet sparse retrieval models.",
)


async def test_a_batch_and_its_topic_linking_leave_every_reference_whole(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with await Store.open(db) as store:
        await store.ingest([_older(i) for i in range(6)], source="lab")
        await store.ingest([TEACHING], source="lab")
        assert await store.link_pending_topics() > 0
        # Another source changes a paper's authors and text; a truncated list brings inferred names.
        changed = record("Older Study 0 of Sparse Retrieval Models", "Mina Park", "New Coauthor",
                         abstract="A GNN reading of sparse retrieval models.", arxiv_id="2401.00001")
        truncated = record("A Lab Paper With Many Authors", "Ola Berg", authors_truncated=True)
        await store.ingest([changed, truncated], source="arxiv", kind="arxiv", owner="Jae-Hun Lee")
        await store.link_pending_topics()
        # The connection the batches ran on checks references again once they are done.
        assert await store.db.run_sync(lambda conn: conn.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    assert rows(db, "SELECT count(*) FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
                    " WHERE t.slug IN ('vit', 'gnn')")[0][0] >= 7
    assert rows(db, "SELECT count(*) FROM paper_authors WHERE inferred = 1") == [(1,)]
    assert rows(db, "PRAGMA foreign_key_check") == []


async def _count(store: Store, table: str) -> int:
    row = await store.db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_references_are_checked_unless_the_writer_vouches_for_them(tmp_path: Path) -> None:
    def dangling(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO paper_topics (paper_id, topic_id) VALUES (999999, 999999)")

    def dangling_then_fail(conn: sqlite3.Connection) -> None:
        dangling(conn)
        raise RuntimeError("the batch fails")

    async with await Store.open(tmp_path / "s.db") as store:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            await store.db.run_write(dangling)
        with pytest.raises(RuntimeError):
            await store.db.run_write(dangling_then_fail, check_references=False)
        assert await _count(store, "paper_topics") == 0
        await store.db.run_write(dangling, check_references=False)
        assert await _count(store, "paper_topics") == 1
        await store.db.run_write(lambda conn: conn.execute("DELETE FROM paper_topics"))
        # Checked again afterwards, failed or not: a paper's deletion cascades to its rows.
        await store.ingest([TEACHING], source="lab")
        assert await _count(store, "paper_authors") == 1
        await store.db.run_write(lambda conn: conn.execute("DELETE FROM papers"))
        assert await _count(store, "paper_authors") == 0


def _sqlite_memory_used() -> int | None:
    """Bytes SQLite holds in this process (its page caches among them), if its library exports the counter."""
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return int(used())


async def _held_after_ingest(db: Path, *, hand_back_cache: bool) -> int:
    async with await Store.open(db, search_index=False, hand_back_cache=hand_back_cache) as store:
        papers = [record(f"Paper {hand_back_cache} {i}", f"Author {i}", abstract="words " * 150) for i in range(3000)]
        await store.ingest(papers, source="lab")
        held = _sqlite_memory_used()
        assert held is not None
        return held


async def test_a_long_running_process_hands_the_write_cache_back_and_a_command_keeps_it(tmp_path: Path) -> None:
    if _sqlite_memory_used() is None:
        pytest.skip("this Python's SQLite library does not export sqlite3_memory_used")
    kept = await _held_after_ingest(tmp_path / "kept.db", hand_back_cache=False)
    handed_back = await _held_after_ingest(tmp_path / "back.db", hand_back_cache=True)
    # 3,000 papers of about 1 KB fill some 4 MB of pages; the service's store holds none of them.
    assert kept - handed_back > 3 * 2**20, (kept, handed_back)
