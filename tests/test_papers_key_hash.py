"""Papers are found by their key's hash, updated_at is NULL until a change; migration 0011 rebuilds papers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.store import Store
from storage.text import key_hash
from tests.helpers import database_at, record, rows

T0 = "2026-01-01T00:00:00.000000+00:00"
T1 = "2026-02-01T00:00:00.000000+00:00"
# Every table whose rows reference papers: dropping the old table with foreign keys on would
# have emptied each of them (ON DELETE CASCADE).
CHILDREN = ("paper_sources", "paper_authors", "paper_topics", "paper_aliases", "deliveries")



def _database_at_0010(path: Path) -> None:
    conn = database_at(path, 10, T0)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO sources (id, name, kind) VALUES (1, 'a', 'listing')")
        conn.execute("INSERT INTO authors (id, key, name) VALUES (1, 'lovelace-ada', 'Ada Lovelace')")
        conn.execute("INSERT INTO topics (id, slug, name, kind) VALUES (1, 'graph-kernels', 'graph kernels', 'phrase')")
        conn.execute("INSERT INTO subscriptions (id, channel_id, target, created_at) VALUES (1, 7, 'all', ?)", (T0,))
        for pid, key, updated in ((1, "graph-kernels", T0), (2, "graph-kernels-2", T1)):
            conn.execute(
                "INSERT INTO papers (id, key, title, title_hash, abstract, category, first_seen_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'About graph kernels.', 'LG', ?, ?)",
                (pid, key, f"Graph Kernels {pid}", pid, T0, updated))
            conn.execute("INSERT INTO paper_sources VALUES (?, 1, X'', X'00', NULL, NULL)", (pid,))
            conn.execute("INSERT INTO paper_authors VALUES (?, 0, 1, 'Ada Lovelace', 0)", (pid,))
            conn.execute("INSERT INTO paper_topics VALUES (?, 1)", (pid,))
            conn.execute("INSERT INTO deliveries (subscription_id, paper_id, status, nonce, created_at, message_id)"
                         " VALUES (1, ?, 'sent', ?, ?, 99)", (pid, f"n{pid}", T0))
        conn.execute("INSERT INTO paper_aliases VALUES ('2301.00001', 'arxiv', 2)")
    finally:
        conn.close()


def _triggers(path: Path) -> list[tuple]:
    return rows(path, "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'papers' ORDER BY 1")


async def test_migration_rebuilds_papers_and_keeps_every_row_that_references_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _database_at_0010(path)
    counts = {table: rows(path, f"SELECT count(*) FROM {table}") for table in CHILDREN}
    triggers = _triggers(path)
    assert len(triggers) == 4
    async with await Store.open(path) as store:
        assert (await store.db.fetchone("PRAGMA foreign_keys"))[0] == 1  # back on after the migration
        assert {table: rows(path, f"SELECT count(*) FROM {table}") for table in CHILDREN} == counts
        assert await store.check() == []
        paper = await store.get_paper("graph-kernels-2")
        assert paper is not None and paper.title == "Graph Kernels 2"
        assert (await store.get_paper("2301.00001")).key == "graph-kernels-2"  # type: ignore[union-attr]
        unchanged = await store.get_paper("graph-kernels")
        assert unchanged is not None and unchanged.updated_at == unchanged.first_seen_at
        assert [p.key for p in await store.latest(limit=5, author_key="lovelace-ada")] == [
            "graph-kernels-2", "graph-kernels"]
    assert rows(path, "SELECT id, key_hash, updated_at FROM papers ORDER BY id") == [
        (1, key_hash("graph-kernels"), None), (2, key_hash("graph-kernels-2"), T1)]
    # Migration 0011 keeps every trigger through the rebuild; 0014 then drops the insert one.
    assert _triggers(path) == [t for t in triggers if t[0] != "search_log_insert"]
    names = {name for (name,) in rows(path, "SELECT name FROM sqlite_schema WHERE tbl_name = 'papers'")}
    assert "papers_key_hash" in names and not any(n.startswith("sqlite_autoindex_papers") for n in names)


async def test_the_triggers_work_on_the_rebuilt_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _database_at_0010(path)
    async with await Store.open(path):
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DELETE FROM search_log")
        conn.execute("UPDATE papers SET title = 'Graph Kernels, Revised' WHERE id = 1")
        conn.execute("INSERT INTO papers (key, key_hash, title, first_seen_at) VALUES ('x', 0, 'X', ?)", (T0,))
        conn.execute("DELETE FROM papers WHERE key = 'x'")
        # An insert's row is the store's own to write since migration 0014: a bare INSERT logs nothing.
        assert [tuple(r) for r in conn.execute("SELECT paper_id, op FROM search_log ORDER BY seq")] == [
            (1, "u"), (3, "d")]
        assert [tuple(r) for r in conn.execute("SELECT paper_id, update_pending FROM deliveries ORDER BY 1")] == [
            (1, 1), (2, 0)]
    finally:
        conn.close()


async def test_keys_stay_unique_without_a_unique_index(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "k.db") as store:
        # The same title by other first authors: one batch, then a later one.
        await store.ingest([record("Introduction", "Ada Lovelace"), record("Introduction", "Alan Turing")], source="a")
        await store.ingest([record("Introduction", "Grace Hopper")], source="b")
        keys = sorted(p.key for p in await store.all_papers())
        assert keys == ["introduction", "introduction-2", "introduction-3"]
        for key in keys:
            assert (await store.get_paper(key)).key == key  # type: ignore[union-attr]
        assert await store.check() == []
        # A second copy of a key, written behind ingest's back, is a problem check names.
        conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
        try:
            conn.execute(
                "INSERT INTO papers (key, key_hash, title, first_seen_at) SELECT key, key_hash, 'Copy', first_seen_at"
                " FROM papers WHERE key = 'introduction-2'"
            )
        finally:
            conn.close()
        problems = await store.check()
        assert any("share the key 'introduction-2'" in p for p in problems), problems
