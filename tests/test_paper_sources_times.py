"""A source's times are kept only where they differ from its paper's; migration 0009 leans existing rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from storage.store import Store
from tests.helpers import database_at, record, rows

T0 = "2026-01-01T00:00:00.000000+00:00"
T1 = "2026-02-01T00:00:00.000000+00:00"



async def test_one_source_keeps_no_times_of_its_own_and_spells_them_out_before_the_paper_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    async with await Store.open(path) as store:
        await store.ingest([record("Graph Kernels", "Ada Lovelace", abstract="First.")], source="a")
        [(paper_seen, paper_updated)] = rows(path, "SELECT first_seen_at, updated_at FROM papers")
        # Not changed since first seen: the paper's updated_at is NULL too (read as first_seen_at).
        assert paper_updated is None
        assert rows(path, "SELECT first_seen_at, updated_at FROM paper_sources") == [(None, None)]

        # Another source says something new: the paper's row changes, and source a's times are
        # written out first, as they were.
        await store.ingest([record("Graph Kernels", "Ada Lovelace", abstract="First.", comment="ICML",
                                   doi="10.1/gk")], source="b")
        [(seen_after, updated_after)] = rows(path, "SELECT first_seen_at, updated_at FROM papers")
        assert seen_after == paper_seen and updated_after > paper_seen
        by_source = dict((name, (seen, updated)) for name, seen, updated in rows(
            path, "SELECT s.name, ps.first_seen_at, ps.updated_at FROM paper_sources ps"
                  " JOIN sources s ON s.id = ps.source_id"))
        assert by_source["a"] == (paper_seen, paper_seen)
        assert by_source["b"][1] == updated_after
        [paper] = await store.latest(limit=5)
        assert paper.comment == "ICML" and set(paper.sources) == {"a", "b"}


async def test_a_record_with_its_own_first_sighting_keeps_the_source_time(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    async with await Store.open(path) as store:
        seen = datetime(2020, 5, 1, tzinfo=UTC)
        await store.ingest([record("Old Find", "Ada Lovelace", first_seen_at=seen)], source="a")
    [(paper_seen,)] = rows(path, "SELECT first_seen_at FROM papers")
    [(source_seen, source_updated)] = rows(path, "SELECT first_seen_at, updated_at FROM paper_sources")
    assert paper_seen.startswith("2020-05-01")
    assert source_seen is not None and source_seen > paper_seen and source_updated is None


def _database_at_0008(path: Path) -> None:
    conn = database_at(path, 8, T0)
    try:
        conn.execute("INSERT INTO sources (id, name, kind) VALUES (1, 'a', 'listing'), (2, 'b', 'listing')")
        for pid in (1, 2):
            conn.execute(
                "INSERT INTO papers (id, key, title, title_hash, abstract, category, first_seen_at, updated_at)"
                " VALUES (?, ?, ?, ?, '', 'LG', ?, ?)",
                (pid, f"p{pid}", f"Paper {pid}", pid, T0, T1 if pid == 2 else T0))
        conn.executemany("INSERT INTO paper_sources VALUES (?, ?, X'', X'00', ?, ?)", [
            (1, 1, T0, T0),  # the paper's own times: both become NULL
            (2, 1, T0, T0),  # updated before the paper's last change: kept
            (2, 2, T0, T1),
        ])
    finally:
        conn.close()


async def test_migration_keeps_only_the_times_that_differ(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _database_at_0008(path)
    async with await Store.open(path) as store:
        assert await store.check() == []
        assert await store.categories() == [("LG", 2)]
    assert rows(path, "SELECT paper_id, source_id, first_seen_at, updated_at FROM paper_sources ORDER BY 1, 2") == [
        (1, 1, None, None), (2, 1, None, T0), (2, 2, None, None)]
    [(sql,)] = rows(path, "SELECT sql FROM sqlite_schema WHERE name = 'paper_sources'")
    assert "WITHOUT ROWID" in sql
    [(index,)] = rows(path, "SELECT sql FROM sqlite_schema WHERE name = 'papers_category'")
    assert index.endswith("(category)")
