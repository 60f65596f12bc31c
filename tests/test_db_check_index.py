"""`paperboy db check` also compares the search index with the store, and `db reindex` mends it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from paperboy import cli
from storage.search_index import SearchIndex
from storage.store import Store, index_folder
from tests.helpers import record


async def _fill(path: Path) -> None:
    async with await Store.open(path) as store:
        await store.ingest([record(f"Study {i} of graph networks", "Jae-Hun Lee") for i in range(6)],
                           source="lab")


def _lose_documents(path: Path) -> None:
    """Delete papers from the index behind the store's back, keeping its bookkeeping as it was."""
    index = SearchIndex.open(index_folder(path))
    try:
        seen, store_id = index._marker()
        assert store_id is not None and index.count() == 6
        index.delete([1, 2])
        index.commit(seen, store_id)
        assert index.count() == 4
    finally:
        index.close()


def test_check_finds_an_index_that_lost_papers_and_reindex_mends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "paperboy.db"
    asyncio.run(_fill(db))
    assert cli.main(["--db", str(db), "db", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok (6 papers)")

    _lose_documents(db)
    assert cli.main(["--db", str(db), "db", "check"]) == 1
    out = capsys.readouterr().out
    assert "problem: search index: it holds 4 papers and the store 6; run `paperboy db reindex`" in out

    assert cli.main(["--db", str(db), "db", "reindex"]) == 0
    capsys.readouterr()
    assert cli.main(["--db", str(db), "db", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok (6 papers)")


def test_check_finds_topic_pairs_out_of_step_and_reindex_mends_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    asyncio.run(_fill(db))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert conn.execute("SELECT count(*) FROM topic_papers_recent").fetchone()[0] > 0
        conn.execute("DELETE FROM topic_papers_recent")
    finally:
        conn.close()
    assert cli.main(["--db", str(db), "db", "check"]) == 1
    assert "topic_papers with its recent part 0; run `paperboy db reindex`" in capsys.readouterr().out
    assert cli.main(["--db", str(db), "db", "reindex"]) == 0
    assert "the papers of each topic" in capsys.readouterr().out
    assert cli.main(["--db", str(db), "db", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok (6 papers)")
