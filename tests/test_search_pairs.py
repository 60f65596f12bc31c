"""The pairs field: phrases of common words answer exactly as the plain phrase query does, only cheaper."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import PaperRecord
from storage.search_index import IndexRow, SearchIndex
from storage.search_pairs import Pairs
from storage.search_query import make_analyzer
from storage.search_terms import _CACHED_TOKENS, BULK_CACHED_TOKENS, TextTerms
from storage.store import Store, index_folder

COMMON = ["deep", "learning", "neural", "network", "networks", "model", "models", "image", "graph", "training"]
OTHER = ["the", "of", "a", "zebra", "Deep", "LEARNING", "déep", "x" * 45, "learn", "networked", "2024"]
GLUE = [" ", " ", " ", "-", "_", ", ", ". ", " (", ") ", "/", "'", "\u00a0", "—", "\u0301"]

PHRASES = ['"deep learning"', '"neural networks"', '"learning model"', '"graph neural network"',
           '"image models"', '"deep-learning"', "deep-learning model", '"training the model"',
           '"neural network training"', '"model learning deep"']


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(COMMON if rng.random() < 0.7 else OTHER) + rng.choice(GLUE) for _ in range(n))


def _index(texts: list[tuple[str, str]]) -> SearchIndex:
    index = SearchIndex.open(None)
    index.add_or_update(IndexRow(i, title, abstract) for i, (title, abstract) in enumerate(texts, 1))
    index.commit(1, "test")
    return index


def _both(index: SearchIndex, query: str) -> tuple[object, object]:
    plan = index.plan(query)
    with_pairs = (index.count_plan(plan), index.candidates(plan, 1000))
    pairs, index.pairs = index.pairs, None
    try:
        without = (index.count_plan(plan), index.candidates(plan, 1000))
    finally:
        index.pairs = pairs
    return with_pairs, without


def test_phrases_of_common_words_answer_the_same_with_and_without_the_pair_field() -> None:
    rng = random.Random(5)
    index = _index([(_text(rng, 6), _text(rng, 40)) for _ in range(400)])
    for query in PHRASES:
        with_pairs, without = _both(index, query)
        assert with_pairs == without, query
    # Not vacuous: the phrases match papers, and the field holds their pairs.
    assert index.count_matches('"deep learning"') > 10
    searcher = index._index.searcher()
    assert searcher.doc_freq("pairs", "a deep learn") >= index.count_matches('"deep learning"') // 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), query=st.sampled_from(PHRASES))
def test_any_text_gives_the_same_phrase_answers(seed: int, query: str) -> None:
    rng = random.Random(seed)
    index = _index([(_text(rng, 5), _text(rng, 25)) for _ in range(30)])
    with_pairs, without = _both(index, query)
    assert with_pairs == without


def test_pairs_are_only_of_listed_words_and_break_at_other_words() -> None:
    pairs, terms = Pairs(make_analyzer()), TextTerms(make_analyzer())
    text = "Deep Learning of neural-networks; zebra model training " + "y" * 45 + " data. Training data"
    assert pairs.of_document(terms.of_text(text), "abstract") == {
        "a deep learn", "a neural network", "a model train", "a data train", "a train data"}
    assert pairs.of_document(terms.of_text("Deep Learning"), "title") == {"t deep learn"}
    assert pairs.of_document(terms.of_text("Learning deep learning"), "title") == {"t learn deep", "t deep learn"}
    assert pairs.of_terms(("self", "supervis", "learn"), "abstract") == ["a self supervis", "a supervis learn"]
    assert pairs.of_terms(("state", "of", "the", "art"), "title") == []


OLD_ANALYZER = "paperboy_en"  # the name titles and abstracts were analysed under up to schema 3


def _old_index(folder: Path, version: int) -> None:
    """An index as schema 2 (no pairs field) or 3 (the fields analysed by Tantivy) wrote it, with no papers."""
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=False, indexed=True, fast=True)
    builder.add_text_field("title", stored=False, tokenizer_name=OLD_ANALYZER, index_option="position")
    builder.add_text_field("abstract", stored=False, tokenizer_name=OLD_ANALYZER, index_option="position")
    if version == 3:
        builder.add_text_field("pairs", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("seq", stored=True, indexed=False, fast=False)
    builder.add_text_field("store", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("schema", stored=True, indexed=False, fast=False)
    folder.mkdir()
    index = tantivy.Index(builder.build(), path=str(folder), reuse=False)
    index.register_tokenizer(OLD_ANALYZER, make_analyzer())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    marker = tantivy.Document()
    marker.add_integer("id", 0)
    marker.add_unsigned("seq", 0)
    marker.add_text("store", "old")
    marker.add_unsigned("schema", version)
    writer.add_document(marker)
    writer.commit()
    writer.wait_merging_threads()


@pytest.mark.parametrize("version", [2, 3])
async def test_an_index_of_an_older_schema_is_rebuilt(tmp_path: Path, version: int) -> None:
    db = tmp_path / "paperboy.db"
    async with await Store.open(db, search_index=False) as store:
        await store.ingest([PaperRecord(title="Deep Learning at Scale", authors=("Ada Lovelace",),
                                        abstract="We train deep learning models.")], source="s")
    _old_index(index_folder(db), version)
    async with await Store.open(db) as store:
        assert store.index is not None
        assert store.index._index.searcher().doc_freq("pairs", "a deep learn") == 1
        assert [p.title for p in await store.search('"deep learning"')] == ["Deep Learning at Scale"]


def test_the_pairs_bench_prints_both_sides(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.pairs_bench", "--papers", "200", "--rounds", "1", "--data", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for line in ("two common words p50", "longer phrases p99", "index build, CPU", "search index size"):
        row = next(r for r in out.stdout.splitlines() if r.startswith(line))
        assert "plain phrase query" in row or "without the pairs field" in row, row


def test_a_bulk_write_keeps_more_tokens_and_gives_them_back_after(tmp_path: Path) -> None:
    index = SearchIndex.open(tmp_path / "index")
    terms = index._terms
    assert terms.limit == _CACHED_TOKENS
    index._bulk(True)
    assert terms.limit == BULK_CACHED_TOKENS
    terms.of_text(" ".join(f"tok{i}" for i in range(_CACHED_TOKENS + 10)))
    assert len(terms) > _CACHED_TOKENS  # kept, where the service's budget would have cleared it
    index._bulk(False)
    assert terms.limit == _CACHED_TOKENS
    assert len(terms) == 0
    index.close()
