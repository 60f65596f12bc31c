"""Linking papers to topics: phrase look-ups by length, and new topics linked to older papers in batches."""

from __future__ import annotations

import asyncio
import multiprocessing.spawn
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest

from storage import topic_links, topic_workers
from storage.errors import StoreError
from storage.ingest_topics import CATEGORIES, Mentions, find_mentions, link_mentions, pending_topics
from storage.store import Store
from storage.text import phrase_words
from storage.topic_linker import read_ahead
from storage.topics import TopicIndex, _Lookups
from tests.helpers import database_at, record, rows


def _index() -> TopicIndex:
    return TopicIndex(
        phrases={"kernel": 1, "graph kernel": 2, "sparse graph kernel": 3, "fast sparse graph kernel": 4,
                 "sparse graph sampling": 5},
        acronyms={"GNN": 6},
    )


def _found(index: TopicIndex, text: str) -> set[int]:
    return index.topics_in(phrase_words(text), text)


def test_phrases_of_every_length_are_found_and_only_whole() -> None:
    index = _index()
    assert _found(index, "Fast sparse graph kernels for GNNs.") == {1, 2, 3, 4, 6}
    # The first three words of a four-word phrase are not the phrase.
    assert _found(index, "A sparse graph kernel, fast.") == {1, 2, 3}
    # Three words that share the first two of another phrase find only their own.
    assert _found(index, "Sparse graph sampling at scale") == {5}
    assert _found(index, "graph kernel-based sampling") == {1, 2}
    assert _found(index, "Nothing here") == set()


def test_acronyms_are_found_as_written_with_capitals_digits_or_a_plural_and_never_in_lower_case() -> None:
    index = TopicIndex(phrases={}, acronyms={"GNN": 1, "3D-GS": 2, "OoDD": 3, "mAP": 4, "SSL": 5})
    text = 'Splatting (3D-GS) with OoDD scores; mAP and "SSL". Two GNNs, then ssl, gnn and oodd.'
    assert index.topics_in(phrase_words(text), text) == {1, 2, 3, 4, 5}
    lower = "we read gnn, 3d-gs, oodd, map and ssl in lower case."
    assert index.topics_in(phrase_words(lower), lower) == set()


def test_phrases_taught_after_the_look_ups_are_built_are_found() -> None:
    index = _index()
    assert _found(index, "dense graph kernel methods") == {1, 2}  # builds the look-ups
    index.add_phrase("dense graph kernel", 7)
    index.add_phrase("dense graph kernel method", 8)
    index.add_phrase("method", 9)
    index.add_phrase("graph kernel", 10)  # taught again: the newer topic answers for it
    assert _found(index, "dense graph kernel methods") == {1, 7, 8, 9, 10}
    index.add_phrase("dense graph kernel", 11, replace=False)  # kept: already taught
    assert _found(index, "dense graph kernel") == {1, 7, 10}


def test_the_look_ups_hold_one_string_per_distinct_word() -> None:
    # A million papers' 270,000 phrases repeat some 60,000 words: one string each, not one per use.
    index = TopicIndex(phrases={}, acronyms={})
    for topic_id, phrase in enumerate(["neural network", "deep neural network model", "network model"], 1):
        index.add_phrase(phrase, topic_id)
    looks = index._lookup()
    pair_words = [word for key in looks.pairs for word in key]
    three_words = [word for key in looks.longer for word in key]
    network = [w for w in pair_words + three_words if w == "network"]
    assert len(network) == 3 and all(w is network[0] for w in network)
    assert _found(index, "A deep neural network model of networks.") == {1, 2, 3}


def _topic_rows(n: int) -> list[tuple[int, str, str, str | None]]:
    """Topics rows of every kind and length, with phrases taught twice and expansions already phrases."""
    words = ["graph", "kernel", "sparse", "neural", "network", "model", "deep", "learning", "fast"]
    out: list[tuple[int, str, str, str | None]] = []
    for i in range(1, n + 1):
        phrase = " ".join(words[(i * k + i // 7) % len(words)] for k in range(1 + i % 5))
        if i % 4 == 0:
            out.append((i, "acronym", f"A{i % 50}X", phrase if i % 8 else None))
        elif i % 9 == 0:
            out.append((i, "category", f"cs.{i % 5}", None))
        else:
            out.append((i, "phrase", phrase, None))
    return out


def test_look_ups_built_in_one_go_are_those_placed_one_phrase_at_a_time() -> None:
    rows = _topic_rows(3_000)
    index = TopicIndex(phrases={}, acronyms={})
    index.take(rows)  # look-ups not built: taken in one loop
    placed = _Lookups({}, {}, {}, set())
    for phrase, topic_id in index.phrases.items():
        placed.place(phrase, topic_id)
    assert index._lookup() == placed  # built in one loop
    assert len(placed.singles) and len(placed.pairs) and any(e for es in placed.longer.values() for e, _ in es)

    # Taken row by row into built look-ups (add_phrase, place), the same topics come out.
    one_by_one = TopicIndex(phrases={}, acronyms={})
    one_by_one._lookup()
    one_by_one.take(rows)
    assert (index.phrases, index.acronyms, index.newest) == (
        one_by_one.phrases, one_by_one.acronyms, one_by_one.newest)
    text = "Fast sparse graph kernel models for deep neural network learning, A4X and A12Xs."
    assert _found(index, text) == _found(one_by_one, text) != set()
    for phrase in list(index.phrases)[::37]:
        assert _found(index, f"On {phrase}.") == _found(one_by_one, f"On {phrase}.") != set()


def _titles_of(path: Path, slug: str) -> set[str]:
    return {t for (t,) in rows(path, "SELECT p.title FROM papers p JOIN paper_topics pt ON pt.paper_id = p.id"
                                     " JOIN topics t ON t.id = pt.topic_id WHERE t.slug = ?", (slug,))}


OLDER = [record(f"Older Work {n}", "Ada Lovelace", abstract=f"We use {a} with care, study {n}.")
         for n, a in enumerate(["vision transformers", "graph neural networks", "masked autoencoders",
                                "neural radiance fields", "large language models"])]
TEACHING = record("Five Definitions", "Alan Turing", abstract=(
    "A vision transformer (ViT), a graph neural network (GNN), a masked autoencoder (MAE),"
    " neural radiance fields (NeRF) and a large language model (LLM)."))


async def test_topics_learnt_later_are_linked_to_older_papers_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        await store.ingest(OLDER, source="s")
        await store.ingest([TEACHING], source="s")
        assert len(rows(path, "SELECT id FROM topics WHERE link_pending = 1")) == 5
        # Two topics a transaction: three batches, each searched while the one before is linked.
        assert await store.link_pending_topics(batch=2) == 5
        assert await store.link_pending_topics(batch=2) == 0
        for slug, older in [("vit", 0), ("gnn", 1), ("mae", 2), ("nerf", 3), ("llm", 4)]:
            assert _titles_of(path, slug) == {"Five Definitions", f"Older Work {older}"}, slug


async def test_a_batch_skips_topics_another_writer_finished_after_its_search(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        await store.ingest(OLDER[:2], source="s")
        await store.ingest([TEACHING], source="s")
        topics = await store.db.run_sync(pending_topics)
        found = find_mentions(store.search_index, topics)
        # Between the search and the batch's transaction another writer takes one topic.
        await store.db.run_write(lambda conn: conn.execute("UPDATE topics SET link_pending = 0 WHERE slug = 'llm'"))
        assert await store.db.run_write(lambda conn: link_mentions(conn, found)) == 4
        assert _titles_of(path, "gnn") == {"Five Definitions", "Older Work 1"}
        assert _titles_of(path, "vit") == {"Five Definitions", "Older Work 0"}
        assert _titles_of(path, "llm") == {"Five Definitions"}  # left to the writer that took it
        assert await store.link_pending_topics() == 0


async def test_category_topics_are_read_through_their_own_index_after_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = database_at(path, 12)
    try:
        conn.execute("INSERT INTO topics (slug, name, kind) VALUES ('cv', 'CV', 'category')")
        conn.executemany("INSERT INTO topics (slug, name, kind) VALUES (?, ?, 'phrase')",
                         [(f"phrase-{n}", f"phrase {n}") for n in range(50)])
    finally:
        conn.close()
    async with await Store.open(path) as store:  # applies 0013
        await store.ingest([record("Sparse Graph Kernels", "Ada Lovelace", category="CV"),
                            record("Speech at Scale", "Alan Turing", category="SD")], source="s")
    assert _titles_of(path, "cv") == {"Sparse Graph Kernels"}
    assert _titles_of(path, "sd") == {"Speech at Scale"}
    plan = " ".join(str(r[-1]) for r in rows(path, "EXPLAIN QUERY PLAN " + CATEGORIES))
    assert "INDEX topics_categories" in plan  # the dozen categories, not every topic
    assert sorted(slug for _, slug in rows(path, CATEGORIES)) == ["cv", "sd"]


BATCH = [record(f"Paper {n}: {topic} at scale", "Ada Lovelace", category=("CV", "LG")[n % 2],
                abstract=f"We revisit {topic} (with {n} seeds) and a vision transformer (ViT) baseline.")
         for n, topic in enumerate(["graph neural networks", "masked autoencoders", "neural radiance fields"] * 12)]


async def _links_after_ingest(path: Path) -> list[tuple]:
    async with await Store.open(path) as store:
        await store.ingest(BATCH, source="s")
    return rows(path, "SELECT t.slug, p.title FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
                      " JOIN papers p ON p.id = pt.paper_id ORDER BY 1, 2")


async def test_a_big_batch_is_matched_in_worker_processes_with_the_same_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = await _links_after_ingest(tmp_path / "here.db")
    assert len({slug for slug, _ in here}) >= 5 and len(here) > 3 * len(BATCH)
    started: list[int] = []
    read: list[int] = []
    real = topic_workers.links_in_workers
    real_lessons = topic_workers.lessons_in_workers

    def counted(index: TopicIndex, texts: list, processes: int):  # type: ignore[no-untyped-def]
        started.append(processes)
        return real(index, texts, processes)

    def reading(texts: list, processes: int):  # type: ignore[no-untyped-def]
        read.append(processes)
        return real_lessons(texts, processes)

    monkeypatch.setattr(topic_workers, "AT_LEAST", 10)
    monkeypatch.setattr(topic_workers, "_CHUNK", 7)  # several chunks per worker, results kept in order
    monkeypatch.setattr(topic_workers, "workers", lambda: 2)
    monkeypatch.setattr(topic_workers, "links_in_workers", counted)
    monkeypatch.setattr(topic_workers, "lessons_in_workers", reading)
    assert await _links_after_ingest(tmp_path / "workers.db") == here
    # The topics were read from the texts in the workers too: the same topics, the same links.
    assert read == [2]
    assert started == [2]


def _no_interpreter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    exe = multiprocessing.spawn.get_executable()  # bytes or str, by Python version
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe",
                        os.fsencode(missing) if isinstance(exe, bytes) else missing)


def _unreadable_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each worker reads the index from the file its parent wrote: here it cannot, and dies.
    monkeypatch.setattr(topic_workers.pickle, "dump", lambda _obj, out, protocol: out.write(b"not an index"))


@pytest.mark.parametrize("break_workers", [_no_interpreter, _unreadable_index],
                         ids=["no worker can start", "the workers die at start"])
async def test_when_the_workers_fail_the_batch_is_matched_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    break_workers: Callable[[pytest.MonkeyPatch, Path], None],
) -> None:
    here = await _links_after_ingest(tmp_path / "here.db")
    monkeypatch.setattr(topic_workers, "AT_LEAST", 10)
    monkeypatch.setattr(topic_workers, "workers", lambda: 2)
    break_workers(monkeypatch, tmp_path)
    assert await _links_after_ingest(tmp_path / "fallback.db") == here
    # The topics are read from the texts by workers that need no index: only a missing interpreter stops them.
    assert ("reading topics in worker processes failed" in caplog.text) == (break_workers is _no_interpreter)
    assert "matching topics in worker processes failed" in caplog.text


async def test_topics_another_process_learnt_are_linked_by_this_stores_next_ingest(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as service, await Store.open(path) as cli:
        await service.ingest([record("First Work", "Ada Lovelace", abstract="Nothing special here.")], source="s")
        # Another store on the file (the CLI beside the service) learns two topics.
        await cli.ingest([TEACHING, record("Masked Autoencoder Tricks", "Alan Turing",
                                           abstract="A masked autoencoder for graph neural networks.")],
                         source="cli")
        await service.ingest([record("Later Work", "Grace Hopper",
                                     abstract="Our ViT beats a large language model, with no masked autoencoder.")],
                             source="s")
    assert "Later Work" in _titles_of(path, "vit")
    assert "Later Work" in _titles_of(path, "llm")
    assert "Later Work" in _titles_of(path, "mae")


async def test_older_papers_are_searched_for_while_the_ingest_that_taught_the_topics_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        await store.ingest(OLDER, source="s")
        with caplog.at_level("DEBUG", logger="storage.topic_linker"):
            await store.ingest([TEACHING], source="s")
        assert "older papers naming 5 new topics while the ingest goes on" in caplog.text
        # The search began before the teaching paper was indexed. It is no candidate, as the
        # ingest linked it itself; the older papers are.
        teaching = await store.get_paper("five-definitions")
        assert teaching is not None
        found = [search.result().paper_ids for _, search in store._linker._started]
        assert found and all(teaching.id not in ids for ids in found)
        assert sorted(i for ids in found for i in ids) == list(range(1, 6))
        assert await store.link_pending_topics() == 5
    for slug, older in [("vit", 0), ("gnn", 1), ("mae", 2), ("nerf", 3), ("llm", 4)]:
        assert _titles_of(path, slug) == {"Five Definitions", f"Older Work {older}"}, slug


async def test_the_search_done_first_is_linked_first(tmp_path: Path) -> None:
    # The ingest's searches are linked as each is done, not in the order they were started.
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        await store.ingest(OLDER, source="s")
        await store.ingest([TEACHING], source="s")
        for _, search in store._linker._started:
            search.result()  # the ingest's own search: replaced below by two held by this test
        topics = await store.db.run_sync(pending_topics)
        first, second = topics[:3], topics[3:]
        held: Future[Mentions] = Future()
        done: Future[Mentions] = Future()
        done.set_result(find_mentions(store.search_index, second))
        store._linker._started = [(first, held), (second, done)]
        linking = asyncio.create_task(store.link_pending_topics())

        def still_pending() -> set[int]:
            return {int(r[0]) for r in rows(path, "SELECT id FROM topics WHERE link_pending = 1")}

        for _ in range(500):  # up to 10 s
            if still_pending() == {t[0] for t in first}:
                break
            await asyncio.sleep(0.02)
        assert still_pending() == {t[0] for t in first} and not linking.done()
        held.set_result(find_mentions(store.search_index, first))
        assert await linking == 5
        assert still_pending() == set()
    for slug, older in [("vit", 0), ("gnn", 1), ("mae", 2), ("nerf", 3), ("llm", 4)]:
        assert _titles_of(path, slug) == {"Five Definitions", f"Older Work {older}"}, slug


async def test_no_early_search_while_the_index_is_behind_another_writers_papers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as service, await Store.open(path) as cli:
        await service.ingest(OLDER[:1], source="s")
        # The CLI beside the service cannot write the index the service holds: its paper
        # waits in the change log, which the service's next sync applies and then prunes.
        await cli.ingest([OLDER[4]], source="cli")
        with caplog.at_level("DEBUG", logger="storage.topic_linker"):
            await service.ingest([TEACHING], source="s")
        assert "behind another writer's papers" in caplog.text
        assert await service.link_pending_topics() == 5
    assert _titles_of(path, "llm") == {"Five Definitions", "Older Work 4"}
    assert _titles_of(path, "vit") == {"Five Definitions", "Older Work 0"}


def test_while_workers_match_this_process_builds_its_own_look_ups() -> None:
    index = _index()
    texts = [(n, f"Paper {n}", "A fast sparse graph kernel for GNNs.", 0) for n in range(1, 41)]
    assert index._looks is None
    found = list(topic_workers.links_in_workers(index, texts, 2))
    assert found == list(topic_workers.links_here(_index(), texts)) and found[0][1]
    # Built here meanwhile, so the next small ingest does not pay for it (0.36 s at 1M papers' topics).
    assert index._looks is not None and index._size == len(index.phrases)


async def test_reading_candidates_ahead_reads_each_stored_one_beside_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with await Store.open(db) as store:
        await store.ingest([record(f"Paper Number {i}", "Ada Lovelace") for i in range(7)], source="lab")
        ids = [r[0] for r in rows(db, "SELECT id FROM papers ORDER BY id")]
        writer = sqlite3.connect(db, isolation_level=None)
        try:
            # A write transaction in progress (as an ingest's is) neither blocks the reads nor shows in them.
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE papers SET abstract = 'changing' WHERE id = ?", (ids[0],))
            assert len(read_ahead(str(db), [*ids, 10_000], keep=True)) == 7
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        assert read_ahead(str(db), [], keep=True) == []
    # Only a cache is warmed: a store it cannot open is no error.
    assert read_ahead(str(tmp_path / "missing.db"), [1, 2], keep=True) == []


def test_packed_links_are_each_papers_topics_and_category_in_key_order() -> None:
    index = _index()
    texts = [(3, "Fast sparse graph kernels", "for GNNs.", 0), (7, "Nothing here", "at all", 50),
             (1 << 30, "A graph kernel", "", 60), ((1 << 31) - 1, "Sparse graph sampling", "", 0)]
    packed = topic_workers.packed_links(index, texts)
    unpacked = [(v >> topic_links.LINK_SHIFT, v & ((1 << topic_links.LINK_SHIFT) - 1)) for v in packed]
    assert unpacked == [(3, 1), (3, 2), (3, 3), (3, 4), (3, 6), (7, 50), (1 << 30, 1), (1 << 30, 2),
                        (1 << 30, 60), ((1 << 31) - 1, 5)]
    assert list(packed) == sorted(packed)
    assert [list(p) for _, p in topic_workers.links_here(index, texts)] == [list(packed)]


def test_packed_links_fit_below_these_ids_only() -> None:
    assert topic_links.packable((1 << 31) - 1, (1 << 32) - 1)
    assert not topic_links.packable(1 << 31, 1)
    assert not topic_links.packable(1, 1 << 32)


async def test_an_ingest_refuses_topic_ids_a_packed_link_cannot_hold_and_keeps_what_was_stored(
    tmp_path: Path
) -> None:
    path = tmp_path / "big.db"
    async with await Store.open(path) as store:
        await store.ingest([record("Sparse graph kernels", "Ada Lovelace")], source="s")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO topics (id, slug, name, kind) VALUES (?, 'far', 'far', 'phrase')", (1 << 32,))
    conn.close()
    async with await Store.open(path) as store:
        with pytest.raises(StoreError, match=r"topic id 4294967296 is beyond .* `paperboy export`"):
            await store.ingest([record("Dense graph kernels", "Alan Turing")], source="s")
    assert rows(path, "SELECT title FROM papers") == [("Sparse graph kernels",)]
