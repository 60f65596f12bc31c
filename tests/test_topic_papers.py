"""Papers of a topic live in topic_papers and its recent part (migration 0012); every reader by topic sees both."""

from __future__ import annotations

import random
import sqlite3
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import pages, topic_links
from storage.store import Store
from tests.helpers import database_at, record, rows

WORDS = "sparse graph kernel sampling neural network vision transformer pruning tensor".split()
T0 = "2026-01-01T00:00:00.000000+00:00"


def _titles(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).capitalize() for _ in range(n)]



def _truth(path: Path) -> dict[str, list[int]]:
    """Each topic's papers, read from paper_topics itself (by paper, the table every write goes through)."""
    out: dict[str, list[int]] = {}
    for slug, paper_id in rows(path, "SELECT t.slug, pt.paper_id FROM paper_topics pt JOIN topics t"
                                      " ON t.id = pt.topic_id ORDER BY 1, 2"):
        out.setdefault(slug, []).append(paper_id)
    return out


def _parts(path: Path) -> tuple[int, int, int]:
    """Pairs in paper_topics, in topic_papers, in topic_papers_recent."""
    [(links, folded, recent)] = rows(path, "SELECT (SELECT count(*) FROM paper_topics), (SELECT count(*)"
                                            " FROM topic_papers), (SELECT count(*) FROM topic_papers_recent)")
    return links, folded, recent


async def _answers_by_topic(store: Store) -> dict[str, list[int]]:
    """What every reader by topic says: counts from topics(), topic(), the pages; papers from latest()."""
    out: dict[str, list[int]] = {}
    listed = {t.slug: t.papers for t in await store.topics(min_papers=1)}
    top = {t.slug: t.papers for t in await pages.top_topics(store, limit=1000)}
    page, total = await pages.list_topics(store, per_page=1000)
    assert total == len(page) == len(top)
    for slug, n in listed.items():
        papers = sorted(p.id for p in await store.latest(limit=10_000, topic_slug=slug))
        topic = await store.topic(slug)
        assert topic is not None and topic.papers == n == len(papers)
        if topic.kind != "category":
            assert top[slug] == n
        out[slug] = papers
    return out


async def _ingest_in_sixes(store: Store, path: Path, titles: list[str]) -> AsyncIterator[tuple[int, int, int]]:
    """Ingest ``titles`` six at a time, linking older papers after each; yield (links, folded, recent) then."""
    for start in range(0, len(titles), 6):
        await store.ingest([record(t, f"Author {start + i}", category="LG")
                            for i, t in enumerate(titles[start:start + 6])], source="s")
        await store.link_pending_topics()
        yield _parts(path)


async def test_small_batches_wait_in_the_recent_part_and_are_folded_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topic_links, "RECENT_LINKS", 60)
    path = tmp_path / "t.db"
    titles = _titles(90, seed=5)
    seen_recent = seen_fold = False
    async with await Store.open(path) as store:
        async for links, folded, recent in _ingest_in_sixes(store, path, titles):
            assert links == folded + recent  # every pair in exactly one part
            seen_recent |= recent > 0
            seen_fold |= folded > 0 and recent < 60
            assert await _answers_by_topic(store) == _truth(path)
        assert seen_recent and seen_fold
        assert len(_truth(path)) > 5

        # A pair deleted, a paper deleted, a topic deleted: both parts follow paper_topics.
        [(folded_topic, folded_paper)] = rows(path, "SELECT topic_id, paper_id FROM topic_papers LIMIT 1")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM paper_topics WHERE topic_id = ? AND paper_id = ?", (folded_topic, folded_paper))
            [(recent_paper,)] = conn.execute("SELECT paper_id FROM topic_papers_recent LIMIT 1").fetchall()
            conn.execute("DELETE FROM papers WHERE id = ?", (recent_paper,))
            conn.execute("DELETE FROM topics WHERE id = (SELECT topic_id FROM paper_topics GROUP BY topic_id"
                         " ORDER BY count(*) DESC LIMIT 1)")
        finally:
            conn.close()
        links, folded, recent = _parts(path)
        assert links == folded + recent
        assert await _answers_by_topic(store) == _truth(path)
        assert await store.check() == []


async def test_check_names_pairs_out_of_step(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with await Store.open(path) as store:
        await store.ingest([record(t, "Ada Lovelace", category="LG") for t in _titles(12, seed=2)], source="s")
        assert await store.check() == []
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("DELETE FROM topic_papers_recent"
                         " WHERE topic_id = (SELECT min(topic_id) FROM topic_papers_recent)")
        finally:
            conn.close()
        problems = await store.check()
        assert any("topic_papers" in p and "paperboy db reindex" in p for p in problems), problems
        await store.reindex()
        assert await store.check() == []
        assert await _answers_by_topic(store) == _truth(path)


async def test_migration_moves_every_pair(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = database_at(path, 11, T0)
    try:
        conn.execute("INSERT INTO sources (id, name, kind) VALUES (1, 'a', 'listing')")
        conn.executemany("INSERT INTO topics (id, slug, name, kind) VALUES (?, ?, ?, 'phrase')",
                         [(1, "graph-kernel", "graph kernel"), (2, "sparse-graph", "sparse graph")])
        for pid in (1, 2, 3):
            conn.execute("INSERT INTO papers (id, key, key_hash, title, abstract, first_seen_at)"
                         " VALUES (?, ?, ?, ?, '', ?)", (pid, f"p{pid}", pid, f"Paper {pid}", T0))
            conn.execute("INSERT INTO paper_sources VALUES (?, 1, X'', X'00', NULL, NULL)", (pid,))
        conn.executemany("INSERT INTO paper_topics VALUES (?, ?)", [(1, 1), (2, 1), (3, 1), (3, 2)])
    finally:
        conn.close()
    async with await Store.open(path, search_index=False) as store:
        assert (await store.topic("graph-kernel")).papers == 3  # type: ignore[union-attr]
        assert [p.key for p in await store.latest(topic_slug="sparse-graph")] == ["p3"]
        assert await store.check() == []
    assert rows(path, "SELECT topic_id, paper_id FROM topic_papers") == [(1, 1), (1, 2), (1, 3), (2, 3)]
    names = {n for (n,) in rows(path, "SELECT name FROM sqlite_schema")}
    # Migration 0014 leaves link inserts to the store's code; deletes keep their trigger.
    assert "paper_topics_topic" not in names and "paper_topics_insert" not in names
    assert "paper_topics_delete" in names


async def test_every_pair_stays_in_one_part_when_each_ingest_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Links are written to paper_topics and the recent part by the store's code (migration
    # 0014), not by a trigger: with a fold after every ingest, each pair must still be in
    # exactly one by-topic part, whoever linked it (the ingest, or the linking of older papers).
    monkeypatch.setattr(topic_links, "RECENT_LINKS", 1)
    path = tmp_path / "f.db"
    titles = _titles(60, seed=11)
    async with await Store.open(path) as store:
        async for links, folded, recent in _ingest_in_sixes(store, path, titles):
            assert links == folded + recent and links > 0
        assert await _answers_by_topic(store) == _truth(path)
        assert await store.check() == []


async def _papers_and_two_topics(path: Path, papers: int) -> tuple[sqlite3.Connection, list[int]]:
    """A store of ``papers`` papers and topics 901 and 902, on a plain connection; the papers' ids."""
    async with await Store.open(path) as store:
        await store.ingest([record(f"Paper number {n}", "Ada Lovelace") for n in range(papers)], source="s")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executemany("INSERT INTO topics (id, slug, name, kind) VALUES (?, ?, ?, 'phrase')",
                     [(901, "t-a", "t a"), (902, "t-b", "t b")])
    return conn, [pid for (pid,) in conn.execute("SELECT id FROM papers ORDER BY id")]


async def test_add_writes_only_the_links_not_held(tmp_path: Path) -> None:
    # The linking of older papers may meet pairs the batch that learnt the topic wrote, folded
    # or still recent (its candidates include papers the index took after its search).
    conn, ids = await _papers_and_two_topics(tmp_path / "a.db", 3)
    try:
        topic_links.add_fresh(conn, [(ids[0], 901)])
        conn.execute("INSERT INTO topic_papers SELECT * FROM topic_papers_recent")  # folded,
        conn.execute("DELETE FROM topic_papers_recent")
        topic_links.add_fresh(conn, [(ids[1], 901)])  # and one still recent
        assert topic_links.add(conn, [(ids[0], 901), (ids[1], 901), (ids[2], 901), (ids[0], 902)]) == 2
        assert topic_links.add(conn, [(ids[2], 901)]) == 0
        assert sorted(conn.execute("SELECT paper_id, topic_id FROM paper_topics WHERE topic_id > 900")) == [
            (ids[0], 901), (ids[0], 902), (ids[1], 901), (ids[2], 901)]
        assert sorted(conn.execute("SELECT topic_id, paper_id FROM topic_papers_recent WHERE topic_id > 900")) == [
            (901, ids[1]), (901, ids[2]), (902, ids[0])]
        # Left for the bulk path, which writes the by-topic pairs again at its end.
        topic_links.add_fresh(conn, [(ids[1], 902)], by_topic=False)
        assert conn.execute("SELECT count(*) FROM topic_papers_recent WHERE topic_id = 902").fetchone()[0] == 1
    finally:
        conn.close()


async def test_packed_links_are_written_as_pairs_are(tmp_path: Path) -> None:
    conn, (a, b) = await _papers_and_two_topics(tmp_path / "p.db", 2)
    try:
        topic_links.add_packed(conn, array("Q", [a << 32 | 901, a << 32 | 902, b << 32 | 902]))
        topic_links.add_packed(conn, array("Q", [b << 32 | 901]), by_topic=False)
        topic_links.add_packed(conn, array("Q"))
        assert sorted(conn.execute("SELECT paper_id, topic_id FROM paper_topics WHERE topic_id > 900")) == [
            (a, 901), (a, 902), (b, 901), (b, 902)]
        assert sorted(conn.execute("SELECT topic_id, paper_id FROM topic_papers_recent WHERE topic_id > 900")) == [
            (901, a), (902, a), (902, b)]
    finally:
        conn.close()
