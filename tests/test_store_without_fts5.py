"""FTS5 is gone: the migration that drops it from a filled database, and topic linking through the index."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from storage.db import migrations
from storage.ingest_topics import link_pending_topics
from storage.merge import record_to_json
from storage.search_index import SearchIndex
from storage.store import Store
from storage.topics import phrase_hash, title_phrases
from tests.helpers import database_at, record

NOW = "2026-01-01T00:00:00.000000+00:00"
OLD_TITLES = ["Sparse Graph Kernels", "Sparse Graph Sampling at Scale"]


def _database_before_the_drop(path: Path) -> None:
    """A database at the schema before FTS5 was dropped, filled as that code filled it (triggers included)."""
    drop = next((m.version for m in migrations() if m.name == "drop_fts5"), None)
    assert drop is not None, "no drop_fts5 migration"
    conn = database_at(path, drop - 1, NOW)
    try:
        conn.execute("INSERT INTO sources (id, name, kind) VALUES (1, 'old', 'listing')")
        conn.execute("INSERT INTO authors (id, key, name) VALUES (1, 'ada-lovelace', 'Ada Lovelace')")
        conn.execute("INSERT INTO topics (id, slug, name, kind) VALUES (1, 'cv', 'CV', 'category')")
        for pid, title in enumerate(OLD_TITLES, 1):
            key = title.lower().replace(" ", "-")
            conn.execute(
                "INSERT INTO papers (id, key, title, title_key, abstract, category, first_seen_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'CV', ?, ?)",
                (pid, key, title, title.lower(), f"We study {title.lower()} on citation data.", NOW, NOW),
            )
            said = record_to_json(record(title, "Ada Lovelace", abstract=f"We study {title.lower()} on citation data.",
                                         published=None))
            conn.execute("INSERT INTO paper_sources VALUES (?, 1, ?, ?, ?, ?)",
                         (pid, said, hashlib.sha256(said.encode()).hexdigest(), NOW, NOW))
            conn.execute("INSERT INTO paper_authors VALUES (?, 0, 1, 'Ada Lovelace', 0)", (pid,))
            conn.execute("INSERT INTO paper_topics (paper_id, topic_id) VALUES (?, 1)", (pid,))
            conn.executemany("INSERT INTO phrase_counts (phrase, papers) VALUES (?, 1)"
                             " ON CONFLICT (phrase) DO UPDATE SET papers = papers + 1",
                             [(p,) for p in title_phrases(title)])
        # The old schema really kept FTS5 in step: the triggers filled it.
        assert conn.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'sparse'").fetchone()[0] == 2
    finally:
        conn.close()


def _schema_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_schema")}
    finally:
        conn.close()


async def test_migration_drops_fts5_and_keeps_every_paper_link_and_count(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _database_before_the_drop(path)
    assert {"papers_fts", "papers_fts_insert"} <= _schema_names(path)
    store = await Store.open(path)
    try:
        names = _schema_names(path)
        assert not {n for n in names if n.startswith("papers_fts")}, names
        assert {"search_log_update", "search_log_delete", "topic_papers", "paper_topics_delete"} <= names
        assert not {"search_log_insert", "paper_topics_insert"} & names  # migration 0014: the store writes those rows
        assert await store.check() == []
        assert [p.title for p in await store.latest(topic_slug="cv")] != []  # links carried over
        assert (await store.topic("cv")).papers == 2  # type: ignore[union-attr]
        # The text-keyed phrase counts were recounted under hashed keys.
        counts = dict(await store.db.fetchall("SELECT hash, papers FROM phrase_counts"))
        assert counts[phrase_hash("sparse graph")] == 2
        assert await store.db.fetchone("SELECT 1 FROM meta WHERE key = 'phrase_counts_stale'") is None
        # Titles are matched by hash now: another source reporting an old paper joins it.
        await store.ingest([record("Sparse graph kernels", "Ada Lovelace", published=None)], source="other")
        assert await store.count_papers() == 2
        # Search answers from the index alone.
        assert {p.title.lower() for p in await store.search("sparse graph")} == {t.lower() for t in OLD_TITLES}
        # A third title with the phrase makes it a topic, linked to the two older papers through the index.
        await store.ingest([record("Sparse Graph Pruning", "Alan Turing")], source="new")
        assert (await store.topic("sparse-graph")).papers == 1  # type: ignore[union-attr]
        assert await store.link_pending_topics() == 1
        assert (await store.topic("sparse-graph")).papers == 3  # type: ignore[union-attr]
    finally:
        await store.close()
    # Opening again changes nothing: the recount ran once.
    async with await Store.open(path) as again:
        assert (await again.topic("sparse-graph")).papers == 3  # type: ignore[union-attr]


async def test_new_topic_is_linked_through_the_index_with_exact_mentions_only(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "t.db") as store:
        await store.ingest([
            record("Old Work", "Ada Lovelace", abstract="Two Vision Transformers do well."),
            record("Wine", "Ada Lovelace", abstract="A vit grape (lowercase, another word)."),
            record("Unrelated", "Ada Lovelace", abstract="Nothing to see."),
        ], source="s")
        # The log the index followed is pruned: old papers can only be found through the index.
        assert tuple(await store.db.fetchone("SELECT count(*) FROM search_log")) == (0,)
        await store.ingest([record("New Work", "Alan Turing", abstract="A vision transformer (ViT) for maps.")],
                           source="s")
        assert await store.link_pending_topics() == 1
        assert {p.title for p in await store.latest(topic_slug="vit")} == {"Old Work", "New Work"}


async def test_linking_reads_papers_the_index_has_not_caught_up_with(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "lag.db", search_index=False) as store:
        await store.ingest([record("Old Work", "Ada Lovelace", abstract="Our vision transformer does well.")],
                           source="s")
        await store.ingest([record("New Work", "Alan Turing", abstract="A vision transformer (ViT) for maps.")],
                           source="s")
        behind = SearchIndex.open(None)  # has seen nothing: every paper is in the log after it
        try:
            assert behind.ids_mentioning(["ViT", "vision transformer"]) == []
            assert await store.db.run_write(lambda conn: link_pending_topics(conn, 10, behind)) == 1
        finally:
            behind.close()
        assert {p.title for p in await store.latest(topic_slug="vit")} == {"Old Work", "New Work"}
