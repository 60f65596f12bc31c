"""Phrase counts of small batches wait in phrase_counts_recent and are folded in; linking many new topics at once."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from storage import phrase_counts, topic_workers
from storage.store import Store
from storage.topics import phrase_hash, title_phrases
from tests.helpers import database_at, record

WORDS = "sparse graph kernel sampling neural network vision transformer pruning tensor".split()


def _titles(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).capitalize() for _ in range(n)]


async def _learn(path: Path, titles: list[str], batch: int) -> tuple[dict[str, int], dict[int, int], int]:
    """Ingest the titles ``batch`` at a time; each topic's paper count, the stored phrase totals, recent rows."""
    async with await Store.open(path) as store:
        for start in range(0, len(titles), batch):
            records = [record(t, f"Author {start + i}") for i, t in enumerate(titles[start : start + batch])]
            await store.ingest(records, source="s")
            await store.link_pending_topics()
        topics = {
            slug: int(n) for slug, n in await store.db.fetchall(
                "SELECT t.slug, (SELECT count(*) FROM paper_topics pt WHERE pt.topic_id = t.id) FROM topics t"
                " WHERE t.kind = 'phrase'")
        }
        totals: Counter[int] = Counter()
        for table in ("phrase_counts", "phrase_counts_recent"):
            totals.update(dict(await store.db.fetchall(f"SELECT hash, papers FROM {table}")))
        recent = (await store.db.fetchone("SELECT count(*) FROM phrase_counts_recent"))[0]
        return topics, dict(totals), int(recent)


async def test_folding_recent_counts_learns_the_same_topics_as_one_big_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = _titles(120, seed=3)
    expected = Counter(phrase_hash(p) for t in titles for p in title_phrases(t))

    # One batch counting more phrases than the threshold writes straight into phrase_counts.
    monkeypatch.setattr(phrase_counts, "RECENT_PHRASES", 40)
    whole_topics, whole_totals, whole_recent = await _learn(tmp_path / "whole.db", titles, batch=len(titles))
    assert whole_recent == 0
    assert whole_totals == expected

    # Small batches fold every few batches: some counts are still recent at the end.
    folded_topics, folded_totals, folded_recent = await _learn(tmp_path / "folded.db", titles, batch=3)
    assert folded_totals == expected
    # A batch of three titles counts at most 27 phrases: below the threshold, so each goes to recent.
    assert 0 < folded_recent < 40 + 27
    assert folded_recent < len(expected)

    # Never folding: every small batch's counts stay recent, and the topics are the same again.
    monkeypatch.setattr(phrase_counts, "RECENT_PHRASES", 10**9)
    kept_topics, kept_totals, kept_recent = await _learn(tmp_path / "kept.db", titles, batch=3)
    assert kept_recent == len(expected)
    assert kept_totals == expected

    assert whole_topics, "the corpus should teach some phrase topics"
    assert folded_topics == whole_topics == kept_topics


async def test_recount_empties_the_recent_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phrase_counts, "RECENT_PHRASES", 10**9)
    titles = _titles(20, seed=5)
    async with await Store.open(tmp_path / "r.db") as store:
        await store.ingest([record(t, "Ada Lovelace") for t in titles], source="s")
        assert (await store.db.fetchone("SELECT count(*) FROM phrase_counts_recent"))[0] > 0
        await store.db.run_write(phrase_counts.recount_phrases)
        assert (await store.db.fetchone("SELECT count(*) FROM phrase_counts_recent"))[0] == 0
        counts = dict(await store.db.fetchall("SELECT hash, papers FROM phrase_counts"))
        assert counts == Counter(phrase_hash(p) for t in titles for p in title_phrases(t))


async def test_topics_learnt_together_are_each_linked_to_every_older_paper_naming_them(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "many.db") as store:
        await store.ingest([
            record("Old One", "Ada Lovelace", abstract="Sparse tensor pruning helps; so do graph kernels."),
            record("Old Two", "Ada Lovelace", abstract="We revisit graph kernels for molecules."),
            record("Old Three", "Ada Lovelace", abstract="Nothing here but sparse tensors."),
            record("Old Four", "Ada Lovelace", abstract="A graph kernel machine for proteins."),
        ], source="old")
        # Three new titles teach several phrases at once; two abstracts define two acronyms
        # with one long form, so one spelling belongs to two pending topics.
        await store.ingest([
            record("Sparse Tensor Pruning for Graph Kernels", "Alan Turing",
                   abstract="We define the graph kernel machine (GKM) here."),
            record("Sparse Tensor Pruning with Graph Kernels", "Alan Turing",
                   abstract="The graph kernel machine (GrKM) again."),
            record("Sparse Tensor Pruning beyond Graph Kernels", "Alan Turing", abstract="Still more."),
        ], source="new")
        pending = (await store.db.fetchone("SELECT count(*) FROM topics WHERE link_pending = 1"))[0]
        assert pending >= 5
        assert await store.link_pending_topics() == pending
        assert (await store.db.fetchone("SELECT count(*) FROM topics WHERE link_pending = 1"))[0] == 0
        slugs = ("sparse-tensor-pruning", "sparse-tensor", "graph-kernel", "gkm", "grkm")
        linked = {
            slug: {title for (title,) in await store.db.fetchall(
                "SELECT p.title FROM papers p JOIN paper_topics pt ON pt.paper_id = p.id"
                " JOIN topics t ON t.id = pt.topic_id WHERE t.slug = ?", (slug,))}
            for slug in slugs
        }
    new = {f"Sparse Tensor Pruning {w} Graph Kernels" for w in ("for", "with", "beyond")}
    assert linked["sparse-tensor-pruning"] == new | {"Old One"}
    assert linked["sparse-tensor"] == new | {"Old One", "Old Three"}
    assert linked["graph-kernel"] == new | {"Old One", "Old Two", "Old Four"}
    # Each acronym is linked where it is defined and where its long form is written.
    assert linked["gkm"] == {"Sparse Tensor Pruning for Graph Kernels", "Sparse Tensor Pruning with Graph Kernels",
                             "Old Four"}
    assert linked["grkm"] == linked["gkm"]


async def test_migration_carries_64_bit_counts_over_to_48_bit_keys(tmp_path: Path) -> None:
    import hashlib

    def old_hash(phrase: str) -> int:
        return int.from_bytes(hashlib.blake2b(phrase.encode(), digest_size=8).digest(), "little", signed=True)

    path = tmp_path / "old.db"
    conn = database_at(path, 9)
    phrases = ["graph neural network", "sparse graph", "deep learning", "vision transformer"]
    conn.executemany("INSERT INTO phrase_counts VALUES (?, ?)", [(old_hash(p), n) for n, p in enumerate(phrases, 1)])
    conn.execute("INSERT INTO phrase_counts_recent VALUES (?, 5)", (old_hash("sparse graph"),))
    conn.close()
    async with await Store.open(path) as store:
        counts = dict(await store.db.fetchall("SELECT hash, papers FROM phrase_counts"))
        assert (await store.db.fetchone("SELECT count(*) FROM phrase_counts_recent"))[0] == 0
    assert counts == {phrase_hash("graph neural network"): 1, phrase_hash("sparse graph"): 2 + 5,
                      phrase_hash("deep learning"): 3, phrase_hash("vision transformer"): 4}
    assert all(0 <= h < 2**48 for h in counts)


async def test_a_batch_counted_in_many_chunks_stores_each_phrase_once_with_its_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = _titles(120, seed=3)
    expected = Counter(phrase_hash(p) for t in titles for p in title_phrases(t))
    assert max(expected.values()) > 7
    whole_topics, whole_totals, _ = await _learn(tmp_path / "whole.db", titles, batch=len(titles))
    # Seven titles a chunk: a phrase's papers are spread over many chunks, each adding its own count.
    monkeypatch.setattr(topic_workers, "_CHUNK", 7)
    # Written a slice of the key space at a time: one slice, or a few dozen keys a slice.
    for threshold, keys_at_once in [(40, 10**6), (40, 25), (10**9, 10**6), (10**9, 25)]:
        monkeypatch.setattr(phrase_counts, "RECENT_PHRASES", threshold)  # into phrase_counts, or the recent table
        monkeypatch.setattr(phrase_counts, "KEYS_AT_ONCE", keys_at_once)
        name = f"chunks-{threshold}-{keys_at_once}.db"
        topics, totals, _ = await _learn(tmp_path / name, titles, batch=len(titles))
        assert totals == whole_totals == expected
        assert topics == whole_topics


def test_a_chunk_counts_no_more_titles_than_its_packed_count_can_hold() -> None:
    counted = phrase_counts.count_titles(["Sparse graph kernels"] * phrase_counts.COUNT_LIMIT)
    assert [v & phrase_counts.COUNT_LIMIT for v in counted.packed] == [phrase_counts.COUNT_LIMIT] * len(counted)
    assert sorted(v >> phrase_counts.COUNT_BITS for v in counted.packed) == sorted(counted.hashes)
    assert {h: p for h, p in zip(counted.hashes, counted.phrases, strict=True)} == {
        phrase_hash(p): p for p in title_phrases("Sparse graph kernels")}
    with pytest.raises(ValueError, match="at most"):
        phrase_counts.count_titles(["Sparse graph kernels"] * (phrase_counts.COUNT_LIMIT + 1))
    assert topic_workers._CHUNK <= phrase_counts.COUNT_LIMIT
