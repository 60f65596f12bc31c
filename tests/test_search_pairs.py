"""The pairs field: phrases of common words answer exactly as the plain phrase query does, only cheaper."""

from __future__ import annotations

import itertools
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import PaperRecord
from storage.search_index import ANALYZER, IndexRow, SearchIndex
from storage.search_pairs import _ASCII_FOLD, Pairs
from storage.search_query import make_analyzer
from storage.store import Store, index_folder
from tests.helpers import SEED

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
    pairs = Pairs(make_analyzer())
    found = pairs.of_text("Deep Learning of neural-networks; zebra model training " + "y" * 45 + " data", "abstract")
    assert found == {"a deep learn", "a neural network", "a model train"}
    assert pairs.of_text("Deep Learning", "title") == {"t deep learn"}
    assert pairs.of_terms(("self", "supervis", "learn"), "abstract") == ["a self supervis", "a supervis learn"]
    assert pairs.of_terms(("state", "of", "the", "art"), "title") == []


def _old_index(folder: Path) -> None:
    """An index as schema 2 wrote it: no pairs field, its marker saying 2."""
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=False, indexed=True, fast=True)
    builder.add_text_field("title", stored=False, tokenizer_name=ANALYZER, index_option="position")
    builder.add_text_field("abstract", stored=False, tokenizer_name=ANALYZER, index_option="position")
    builder.add_unsigned_field("seq", stored=True, indexed=False, fast=False)
    builder.add_text_field("store", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("schema", stored=True, indexed=False, fast=False)
    folder.mkdir()
    index = tantivy.Index(builder.build(), path=str(folder), reuse=False)
    index.register_tokenizer(ANALYZER, make_analyzer())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    marker = tantivy.Document()
    marker.add_integer("id", 0)
    marker.add_unsigned("seq", 0)
    marker.add_text("store", "old")
    marker.add_unsigned("schema", 2)
    writer.add_document(marker)
    writer.commit()
    writer.wait_merging_threads()


async def test_an_index_without_the_pair_field_is_rebuilt_with_it(tmp_path: Path) -> None:
    db = tmp_path / "paperboy.db"
    async with await Store.open(db, search_index=False) as store:
        await store.ingest([PaperRecord(title="Deep Learning at Scale", authors=("Ada Lovelace",),
                                        abstract="We train deep learning models.")], source="s")
    _old_index(index_folder(db))
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


def _analysed_pair(analyzer: tantivy.TextAnalyzer, words: frozenset[str], token: str) -> str | None:
    """What a token is to the pairs without any shortcut: its one analysed term, if that is a pair word."""
    if len(token.encode()) >= 40:
        return None
    terms = analyzer.analyze(token)
    return terms[0] if len(terms) == 1 and terms[0] in words else None


def _tokens_to_check() -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    short = {"".join(t) for n in (1, 2, 3, 4) for t in itertools.product(letters, repeat=n)}
    endings = ["", "s", "es", "ed", "ing", "ly", "y", "ies", "ied", "er", "ers", "est", "ity", "ities", "ation",
               "ations", "ational", "ness", "ize", "ized", "izing", "ization", "al", "ally", "ive", "ively", "ful",
               "ment", "ments", "ist", "ism", "e", "able", "ible", "ic", "ical", "ically"]
    from storage.search_pairs import PAIR_WORDS
    variants = {w + e for w in PAIR_WORDS for e in endings}
    variants |= {w.upper() for w in variants} | {w.capitalize() for w in variants}
    return short | variants


def test_the_first_letters_shortcut_finds_every_pair_word_the_analyzer_does() -> None:
    analyzer = make_analyzer()
    pairs = Pairs(analyzer)
    tokens = _tokens_to_check()
    if SEED.exists():  # every token of the seed's titles and abstracts too
        text = SEED.read_text(encoding="utf-8")
        tokens |= set(re.findall(r"[^\W_]+", text)) | set(text.translate(_ASCII_FOLD).split())
    terms = pairs._terms
    terms.limit = len(tokens) + 1
    wrong = [t for t in tokens if terms[t] != _analysed_pair(analyzer, pairs.words, t)]
    assert wrong == []
    # Not vacuous: the tokens hold pair words in many forms, and the shortcut decided most of the rest.
    assert sum(terms[t] is not None for t in tokens) > 1_000
    starts = {t[:3].lower() for t in pairs.words}
    assert sum(t[:3].lower() not in starts for t in tokens if t.isascii()) > len(tokens) // 2


def test_pair_words_too_short_for_the_shortcut_are_refused() -> None:
    from storage.search_pairs import _starts

    assert "mod" in _starts(frozenset({"model", "deep"}))
    with pytest.raises(ValueError, match="too short"):
        _starts(frozenset({"model", "tri"}))
    with pytest.raises(ValueError, match="too short"):
        _starts(frozenset({"ab"}))


def test_a_bulk_write_keeps_more_tokens_and_gives_them_back_after(tmp_path: Path) -> None:
    from storage.search_pairs import _CACHED_TOKENS, BULK_CACHED_TOKENS

    index = SearchIndex.open(tmp_path / "index")
    pairs = index._pair_maker
    assert pairs is not None
    assert pairs._terms.limit == _CACHED_TOKENS
    index._bulk(True)
    assert pairs._terms.limit == BULK_CACHED_TOKENS
    text = " ".join(f"tok{i}" for i in range(_CACHED_TOKENS + 10))
    pairs.of_text(text, "abstract")
    assert len(pairs._terms) > _CACHED_TOKENS  # kept, where the service's budget would have cleared it
    index._bulk(False)
    assert pairs._terms.limit == _CACHED_TOKENS
    assert len(pairs._terms) == 0
    index.close()
