"""The Tantivy search index derived from the store: ranking, expansion, hostile input, crash healing."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import PaperRecord
from storage.search import Expansions
from storage.search_index import SearchIndex
from storage.search_log import seen_in_store
from storage.store import Store


def record(title: str, author: str, abstract: str = "") -> PaperRecord:
    return PaperRecord(title=title, authors=(author,), abstract=abstract)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    # The test drives its own SearchIndex, so the store must not consume the log itself.
    s = await Store.open(tmp_path / "paperboy.db", search_index=False)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def conn(tmp_path: Path, store: Store) -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(str(tmp_path / "paperboy.db"), isolation_level=None)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SearchIndex]:
    idx = SearchIndex.open(tmp_path / "search-index")
    try:
        yield idx
    finally:
        idx.close()


async def ids_by_title(store: Store) -> dict[str, int]:
    return {p.title: p.id for p in await store.all_papers()}


async def titles(store: Store, index: SearchIndex, query: str) -> list[str]:
    by_id = {v: k for k, v in (await ids_by_title(store)).items()}
    return [by_id[i] for i, _ in index.search(query, 10, 0, await store.expansions())]


async def test_title_weighted_above_abstract(store: Store, conn: sqlite3.Connection, index: SearchIndex) -> None:
    await store.ingest([
        record("Unrelated Heading", "Ada Lovelace", "we mention diffusion once here among many other words"),
        record("Diffusion Models Explained", "Alan Turing", "a text that says nothing else at all"),
    ], source="s")
    index.sync(conn)
    assert await titles(store, index, "diffusion") == ["Diffusion Models Explained", "Unrelated Heading"]


async def test_acronym_and_long_form_find_each_other(
    store: Store, conn: sqlite3.Connection, index: SearchIndex
) -> None:
    await store.ingest([
        record("Learning Without Labels", "Ada Lovelace", "We study self-supervised learning (SSL) for images."),
        record("Probing Representations", "Alan Turing", "Methods of Self-Supervised Learning are compared."),
        record("Pretext Tasks", "Grace Hopper", "Recent SSL methods and their pretext tasks."),
        record("Supervised Baselines", "Edsger Dijkstra", "Plain supervised learning, no pretext."),
    ], source="s")
    index.sync(conn)
    expected = {"Learning Without Labels", "Probing Representations", "Pretext Tasks"}
    assert set(await titles(store, index, "SSL")) == expected
    assert set(await titles(store, index, "ssls")) == expected
    assert set(await titles(store, index, "self-supervised learning")) == expected
    # Without the learnt pair each spelling finds only itself.
    ids = await ids_by_title(store)
    bare = {i for i, _ in index.search("SSL", 10, 0, None)}
    assert bare == {ids["Learning Without Labels"], ids["Pretext Tasks"]}


async def test_every_word_required_then_any(store: Store, conn: sqlite3.Connection, index: SearchIndex) -> None:
    await store.ingest([
        record("Graph Networks", "Ada Lovelace", "message passing"),
        record("Graph Kernels", "Alan Turing", "networks are not used"),
        record("Image Networks", "Grace Hopper", "convolutions"),
    ], source="s")
    index.sync(conn)
    both = await titles(store, index, "graph networks")
    # Papers holding every word come first; the rest of the pool holds some of them.
    assert set(both[:2]) == {"Graph Networks", "Graph Kernels"} and both[0] == "Graph Networks"
    assert both[2:] == ["Image Networks"]
    # No paper holds both words: fall back to any of them.
    assert set(await titles(store, index, "kernels convolutions")) == {"Graph Kernels", "Image Networks"}


async def test_quotes_ask_for_a_phrase(store: Store, conn: sqlite3.Connection, index: SearchIndex) -> None:
    await store.ingest([
        record("Neural Network Pruning", "Ada Lovelace", "prune weights"),
        record("Network of Neural Cells", "Alan Turing", "biology"),
    ], source="s")
    index.sync(conn)
    assert await titles(store, index, '"neural network"') == ["Neural Network Pruning"]
    assert set(await titles(store, index, "neural network")) == {"Neural Network Pruning", "Network of Neural Cells"}


async def test_counts_and_topic_linking_lookups(
    store: Store, conn: sqlite3.Connection, index: SearchIndex
) -> None:
    await store.ingest([
        record("Graph Networks", "Ada Lovelace", "We use Graph Neural Networks here."),
        record("Graph Kernels", "Alan Turing", "a graph neural network baseline"),
        record("Image Networks", "Grace Hopper", "convolutions of a neural graph"),
    ], source="s")
    index.sync(conn)
    ids = await ids_by_title(store)
    assert index.count_matches("graph") == 3
    assert index.count_matches("graph kernels") == 1
    assert index.count_matches("") == 0
    assert index.ids_mentioning(["graph neural network", "GNN"]) == sorted(
        [ids["Graph Networks"], ids["Graph Kernels"]]
    )
    assert index.ids_mentioning(["", "!!"]) == []


HOSTILE = ['"unclosed', "NEAR(a b", "AND", "OR OR", "*", "title:foo", "c++ -bar", "(((", ")", "-", ":",
           "x" * 5000, "", "   ", "\x00\x01", "😀 émoji", "a:b c:d", "NOT", "^start", "'; DROP TABLE papers; --",
           '"a" "b', "id:0", "seq:1", "store:x", "*:*", "title:", "[1 TO 5]", "\\", "~2", "a^10"]


async def test_hostile_input_never_raises(store: Store, conn: sqlite3.Connection, index: SearchIndex) -> None:
    await store.ingest([record("Title About Things", "Ada Lovelace", "not and or near id store seq")], source="s")
    index.sync(conn)
    expansions = await store.expansions()
    for query in HOSTILE:
        hits = index.search(query, 10, 0, expansions)
        assert all(paper_id > 0 for paper_id, _ in hits), query  # the marker never shows


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80))
def test_any_text_builds_a_query_or_nothing(text: str) -> None:
    index = SearchIndex.open(None)
    expansions = Expansions({"ssl": "self supervised learning"}, {"self supervised learning": "SSL"})
    assert isinstance(index.search(text, 5, 0, expansions), list)
    for group in index.plan(text, expansions).groups:
        assert group.alts and all(alt.terms for alt in group.alts)


async def test_updates_and_deletes_follow_the_store(
    store: Store, conn: sqlite3.Connection, index: SearchIndex
) -> None:
    await store.ingest([record("A Study of Things", "Ada Lovelace", "old words")], source="s")
    index.sync(conn)
    assert await titles(store, index, "old") == ["A Study of Things"]
    await store.ingest([record("A Study of Things", "Ada Lovelace", "fresh words")], source="s")
    report = index.sync(conn)
    assert report.applied == 1 and report.deleted == 1
    assert await titles(store, index, "old") == []
    assert await titles(store, index, "fresh") == ["A Study of Things"]
    conn.execute("DELETE FROM papers")
    index.sync(conn)
    assert index.search("fresh", 10) == [] and index.count() == 0


async def test_seen_is_recorded_in_the_store_and_the_log_pruned(
    store: Store, conn: sqlite3.Connection, index: SearchIndex
) -> None:
    await store.ingest([record(f"Paper {i}", "Ada Lovelace") for i in range(5)], source="s")
    assert conn.execute("SELECT count(*) FROM search_log").fetchone()[0] == 5
    report = index.sync(conn)
    assert report.seen == 5 == seen_in_store(conn) == index.seen_version()
    assert conn.execute("SELECT count(*) FROM search_log").fetchone()[0] == 0
    assert index.count() == 5


async def test_crash_after_index_commit_before_store_record_heals(
    store: Store, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    await store.ingest([record(f"Paper {i}", "Ada Lovelace", "common") for i in range(3)], source="s")
    index = SearchIndex.open(tmp_path / "idx")
    index.sync(conn)
    await store.ingest([record(f"Later {i}", "Alan Turing", "common") for i in range(3)], source="s")
    # The index commits the log rows but the process dies before SQLite hears of it.
    pending = conn.execute("SELECT seq, paper_id FROM search_log ORDER BY seq").fetchall()
    rows = conn.execute(
        f"SELECT id, title, abstract FROM papers WHERE id IN ({','.join(str(p) for _, p in pending)})"
    ).fetchall()
    from storage.search_index import IndexRow

    index.add_or_update(IndexRow(*r) for r in rows)
    store_id = conn.execute("SELECT value FROM meta WHERE key = 'search_index_store'").fetchone()[0]
    index.commit(pending[-1][0], store_id)
    index.close()
    assert seen_in_store(conn) == 3
    reopened = SearchIndex.open(tmp_path / "idx")
    try:
        reopened.sync(conn)
        assert seen_in_store(conn) == 6
        assert reopened.count() == 6
        assert len(reopened.search("common", 100)) == 6  # nothing doubled
    finally:
        reopened.close()


async def test_crash_before_index_commit_heals(store: Store, conn: sqlite3.Connection, tmp_path: Path) -> None:
    await store.ingest([record("First Paper", "Ada Lovelace", "alpha")], source="s")
    index = SearchIndex.open(tmp_path / "idx")
    index.sync(conn)
    # Written to the store, then the process dies before the index saw it: nothing committed.
    await store.ingest([record("Second Paper", "Alan Turing", "beta")], source="s")
    index.add_or_update([])  # opened a writer, committed nothing
    index.close()
    reopened = SearchIndex.open(tmp_path / "idx")
    try:
        assert reopened.seen_version() == 1
        assert reopened.search("beta", 10) == []
        reopened.sync(conn)
        assert [i for i, _ in reopened.search("beta", 10)] == [(await ids_by_title(store))["Second Paper"]]
    finally:
        reopened.close()


async def test_lost_or_foreign_or_newer_index_is_rebuilt(
    store: Store, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    await store.ingest([record("Only Paper", "Ada Lovelace", "gamma")], source="s")
    folder = tmp_path / "idx"
    index = SearchIndex.open(folder)
    index.sync(conn)
    index.close()

    shutil.rmtree(folder)  # lost
    index = SearchIndex.open(folder)
    assert index.sync(conn).rebuilt and index.count() == 1
    index.close()

    (folder / "meta.json").write_text("not json")  # damaged
    index = SearchIndex.open(folder)
    assert index.sync(conn).rebuilt and index.count() == 1
    index.close()

    conn.execute("UPDATE meta SET value = 'another' WHERE key = 'search_index_store'")  # foreign
    index = SearchIndex.open(folder)
    assert index.sync(conn).rebuilt
    index.close()

    # A store restored from an older backup: the index has seen more than the store wrote.
    conn.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'search_log'")
    index = SearchIndex.open(folder)
    try:
        report = index.sync(conn)
        assert report.rebuilt and index.count() == 1
        assert [i for i, _ in index.search("gamma", 10)] == [(await ids_by_title(store))["Only Paper"]]
    finally:
        index.close()


async def test_index_behind_a_pruned_log_is_rebuilt(store: Store, conn: sqlite3.Connection, tmp_path: Path) -> None:
    await store.ingest([record("Old Paper", "Ada Lovelace", "zeta")], source="s")
    stale = SearchIndex.open(tmp_path / "stale")
    stale.sync(conn)
    stale.close()
    await store.ingest([record("New Paper", "Alan Turing", "zeta")], source="s")
    other = SearchIndex.open(tmp_path / "other")  # sees the new paper and prunes its log row
    other.sync(conn)
    other.close()
    assert conn.execute("SELECT count(*) FROM search_log").fetchone()[0] == 0
    stale = SearchIndex.open(tmp_path / "stale")
    try:
        assert stale.sync(conn).rebuilt
        assert len(stale.search("zeta", 10)) == 2
        assert seen_in_store(conn) == 2
    finally:
        stale.close()


async def test_existing_store_without_log_history_is_indexed_whole(
    store: Store, conn: sqlite3.Connection, index: SearchIndex
) -> None:
    await store.ingest([record(f"Paper {i}", "Ada Lovelace", "delta") for i in range(4)], source="s")
    conn.execute("DELETE FROM search_log")  # papers from before migration 0002
    report = index.sync(conn)
    assert report.rebuilt and index.count() == 4


async def test_second_process_searches_while_first_writes(
    store: Store, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    await store.ingest([record("Shared Paper", "Ada Lovelace", "epsilon")], source="s")
    writer = SearchIndex.open(tmp_path / "idx")
    writer.sync(conn)
    reader = SearchIndex.open(tmp_path / "idx")
    try:
        assert reader.sync(conn).read_only
        assert len(reader.search("epsilon", 10)) == 1
        writer.close()  # the service stops: the other process takes over the writing
        await store.ingest([record("Later Paper", "Alan Turing", "epsilon")], source="s")
        report = reader.sync(conn)
        assert not report.read_only and report.added == 1
        assert len(reader.search("epsilon", 10)) == 2
    finally:
        reader.close()
        writer.close()
