"""The index is given each text's analysed terms: the same terms at the same positions as the stemming analyzer's."""

from __future__ import annotations

import itertools
import random
import sys

import pytest
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.search_index import IndexRow, SearchIndex
from storage.search_query import make_analyzer
from storage.search_terms import GAP, TextTerms, index_analyzer
from tests.helpers import SEED

WORDS = ["Deep", "learning", "networks", "NETWORK", "trained", "the", "of", "Café", "naïve", "Müller", "ß", "½",
         "x²", "ﬁne", "⑴", "3D-GS", "α-helix", "深度学习", "Ωmega", "x" * 39 + "ß", "y" * 45, "z" * 40, "2024",
         "don't", "e.g.", "state-of-the-art", "l’été", "Æsir", "İstanbul", "ﬀ"]
GLUE = [" ", " ", "-", "_", ", ", ". ", " (", ") ", "/", "'", "\u00a0", "—", "\u0301", "\n", "\t", "…"]


def _simple() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).build()


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(GLUE) for _ in range(n))


def _same_as_the_analyzer(terms: TextTerms, text: str) -> None:
    got = terms.of_text(text)
    # The analyzer's terms, in order, and one position for each token its tokenizer cut.
    assert [t for t in got if t != GAP] == make_analyzer().analyze(text), text
    assert len(got) == len(_simple().analyze(text)), text
    # What the index's own analyzer reads back from the joined terms: the same, the gaps dropped.
    assert index_analyzer().analyze(" ".join(got)) == make_analyzer().analyze(text), text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(0, 30))
def test_terms_are_the_analyzers_with_a_gap_for_each_dropped_token(seed: int, n: int) -> None:
    _same_as_the_analyzer(TextTerms(make_analyzer()), _text(random.Random(seed), n))


def test_the_seed_listing_reads_the_same() -> None:
    if not SEED.exists():
        pytest.skip(f"seed listing not found at {SEED}")
    terms = TextTerms(make_analyzer())
    for paragraph in SEED.read_text(encoding="utf-8").split("\n\n"):
        _same_as_the_analyzer(terms, paragraph)


def test_no_letter_or_digit_analyses_to_a_space_or_the_gap() -> None:
    # Every character Tantivy's tokenizer keeps, alone: folding may spell one as several
    # ("⑴" as "(1)"), and the index's analyzer splits only at whitespace.
    chars = " ".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    tokens = _simple().analyze(chars)
    assert len(tokens) > 100_000
    analyzer = make_analyzer()
    bad = [(t, terms) for t in tokens
           if (terms := analyzer.analyze(t)) and (GAP in terms[0] or terms[0].split() != terms)]
    assert bad == []


def test_a_dropped_token_keeps_its_place_so_no_phrase_spans_it() -> None:
    index = SearchIndex.open(None)
    index.add_or_update([IndexRow(1, "One", "alpha " + "y" * 45 + " beta"), IndexRow(2, "Two", "alpha beta")])
    index.commit(1, "test")
    searcher = index._index.searcher()
    for words, count in ((["alpha", "beta"], 1), (["alpha"], 2), (["beta"], 2)):
        query = tantivy.Query.phrase_query(index._schema, "abstract", words) if len(words) > 1 else (
            tantivy.Query.term_query(index._schema, "abstract", words[0]))
        assert searcher.search(query, 10).count == count, words
    assert index.count_matches('"alpha beta"') == 1  # paper 2: in paper 1 a dropped token stands between


def test_an_index_of_terms_answers_every_query_as_one_analysed_by_tantivy() -> None:
    rng = random.Random(11)
    texts = [(_text(rng, 4), _text(rng, 30)) for _ in range(300)]
    ours = SearchIndex.open(None)
    ours.add_or_update(IndexRow(i, title, abstract) for i, (title, abstract) in enumerate(texts, 1))
    ours.commit(1, "test")
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    for field in ("title", "abstract"):
        builder.add_text_field(field, stored=False, tokenizer_name="stemming", index_option="position")
    theirs = tantivy.Index(builder.build())
    theirs.register_tokenizer("stemming", make_analyzer())
    writer = theirs.writer(heap_size=15_000_000, num_threads=1)
    for i, (title, abstract) in enumerate(texts, 1):
        doc = tantivy.Document()
        doc.add_integer("id", i)
        doc.add_text("title", title)
        doc.add_text("abstract", abstract)
        writer.add_document(doc)
    writer.commit()
    theirs.reload()
    analyzer = make_analyzer()
    vocabulary = sorted({t for title, abstract in texts for t in analyzer.analyze(f"{title} {abstract}")})
    queries = [[t] for t in vocabulary] + [analyzer.analyze(f"{a} {b}") for a, b in itertools.pairwise(WORDS)]
    # Runs of two and three terms as the analyzer reads the texts, some of them across a
    # dropped token, where neither index may find the phrase.
    for title, abstract in texts[:100]:
        run = analyzer.analyze(f"{title} {abstract}")
        queries += [run[i : i + n] for n in (2, 3) for i in range(0, len(run) - n, 3)]
    compared = 0
    for terms in queries:
        for field in ("title", "abstract"):
            if len(terms) == 1:
                q_ours = tantivy.Query.term_query(ours._schema, field, terms[0])
                q_theirs = tantivy.Query.term_query(theirs.schema, field, terms[0])
            elif len(terms) > 1:
                q_ours = tantivy.Query.phrase_query(ours._schema, field, terms)
                q_theirs = tantivy.Query.phrase_query(theirs.schema, field, terms)
            else:
                continue
            a = ours._index.searcher().search(q_ours, 1000).count
            b = theirs.searcher().search(q_theirs, 1000).count
            assert a == b, (field, terms)
            compared += a > 0
    assert compared > 100  # not vacuous: most queries match something
