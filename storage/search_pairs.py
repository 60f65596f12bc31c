"""Pairs of common words, indexed as single terms so that a phrase of two common words stays cheap.

A phrase query reads the positions of every paper that holds all its words.
For two words that most abstracts use ("deep learning", "neural network"),
that is most of the index, and at millions of papers a quoted phrase of them
took longer than anything else a user can type. So the index keeps one more
field, ``pairs``: for each title and abstract, every two adjacent words that
are both in ``PAIR_WORDS``, as one term (``a deep learn``: field letter, then
the two analysed words). A phrase alternative holding such a pair requires the
pair's term too, at a constant score of zero: the papers and the scores are
exactly the phrase query's, but Tantivy walks the pair's short posting list and
reads positions only where the phrase can be.

The list is of words frequent across research abstracts in general (not taken
from any one corpus); a pair of them rarely is. It is part of the index's
schema: the index is rebuilt when it changes (``search_index.SCHEMA_VERSION``).
Stop words are left out (a phrase with one keeps the plain phrase query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise

import tantivy

FIELD = "pairs"
_TOKEN = re.compile(r"[^\W_]+")  # Tantivy's simple tokenizer: runs of letters and digits
# One pass over ASCII text: letters lowercased, everything but letters and digits a space.
_ASCII_FOLD = str.maketrans({c: (c.lower() if c.isalnum() else " ") for c in map(chr, range(128))})
_MAX_TOKEN_BYTES = 40  # search_query's remove_long filter drops tokens this long or longer
_CACHED_TOKENS = 50_000  # about 7 MB; the service has an RSS budget
# While the index is rebuilt or written in bulk, beside a writer's 128 MB heap: a million
# papers' abstracts hold far more distinct tokens than the cache, and each one met again
# after it was cleared costs a look-up in the analyzer.
BULK_CACHED_TOKENS = 200_000
_PREFIX = 3  # the stemmer changes a word's end only: a pair word's first letters are its stem's

PAIR_WORDS = """
accuracy adaptive adversarial algorithm algorithms analysis application applications approach
approaches architecture art attention based benchmark benchmarks classification clustering
complex computational computer control convolutional data dataset datasets decision deep
demonstrate design detection different diffusion distribution domain dynamic dynamics effective
efficient embedding embeddings empirical end estimation evaluation existing experiment experimental
experiments feature features framework function functions gaussian general generalization generation
generative global graph graphs high image images improve improved improvement inference information
input knowledge language large latent layer layers learn learned learning level linear local loss
low machine matrix method methods metric model modeling models multi multimodal natural network
networks neural new noise non novel object objective optimal optimization output paper parameter
parameters performance policy pre prediction predictions present pretrained prior probabilistic
problem problems process processing propose proposed quality random real recognition reinforcement
representation representations results robust robustness sample samples scale segmentation
self semantic sequence set show signal simple source space sparse spatial speech state
statistical stochastic structure study supervised system systems task tasks temporal test text
theoretical theory time trained training transfer transformer transformers two vision visual
world
""".split()


def _starts(words: frozenset[str]) -> frozenset[str]:
    """The first letters of the pair words' terms, which any token analysed to one of them starts with.

    Snowball's English stemmer rewrites only a word's end: its suffixes lie in regions
    that begin after a vowel and a consonant, and each rewrite keeps its suffix's first
    letter. A word of three letters can still change its third (``try`` to ``tri``), so
    no pair term may be three letters ending in "i". tests/test_search_pairs.py checks
    the shortcut against the analyzer for every token of up to four letters and every
    word of the seed's abstracts.
    """
    short = [w for w in words if len(w) < _PREFIX or (len(w) == _PREFIX and w.endswith("i"))]
    if short:
        raise ValueError(f"pair words too short to be found by their first letters: {sorted(short)}")
    return frozenset(w[:_PREFIX] for w in words)


class _Terms(dict[str, str | None]):
    """Token as written -> its analysed term when that is a pair word, else None; filled on first sight."""

    def __init__(self, analyzer: tantivy.TextAnalyzer, words: frozenset[str]) -> None:
        super().__init__()
        self._analyzer = analyzer
        self._words = words
        self._starts = _starts(words)
        self.limit = _CACHED_TOKENS

    def __missing__(self, token: str) -> str | None:
        found = None
        # Most tokens start as no pair word does: decided without the analyzer, which at a
        # million papers' vocabulary was half the time the pairs took.
        if (not token.isascii() or token[:_PREFIX].lower() in self._starts) and len(token.encode()) < _MAX_TOKEN_BYTES:
            terms = self._analyzer.analyze(token)  # longer tokens are dropped: a gap between words
            found = terms[0] if len(terms) == 1 and terms[0] in self._words else None
        if len(self) >= self.limit:
            self.clear()
        self[token] = found
        return found


class Pairs:
    """Which analysed words pair up, and the pair terms of a text or of a phrase's terms."""

    def __init__(self, analyzer: tantivy.TextAnalyzer) -> None:
        self.words = frozenset(t for w in PAIR_WORDS for t in analyzer.analyze(w))
        self._terms = _Terms(analyzer, self.words)

    def bulk(self, on: bool) -> None:
        """Keep more tokens while the index is written in bulk; back to the service's budget after."""
        self._terms.limit = BULK_CACHED_TOKENS if on else _CACHED_TOKENS
        if len(self._terms) > self._terms.limit:
            self._terms.clear()

    def of_text(self, text: str, field: str) -> set[str]:
        """The pair terms of one field's text (each once: the field records papers, not counts)."""
        # ASCII text (nearly every abstract) splits in C; the same tokens as the regex's, lowercased.
        tokens = text.translate(_ASCII_FOLD).split() if text.isascii() else _TOKEN.findall(text)
        terms = list(map(self._terms.__getitem__, tokens))
        lead = field[0] + " "
        return {lead + a + " " + b for a, b in pairwise(terms) if a is not None and b is not None}

    def of_terms(self, terms: Iterable[str], field: str) -> list[str]:
        """The pair terms a run of analysed terms (a phrase) must hold in ``field``."""
        lead = field[0] + " "
        return list(dict.fromkeys(lead + a + " " + b for a, b in pairwise(terms)
                                  if a in self.words and b in self.words))


__all__ = ["FIELD", "PAIR_WORDS", "Pairs"]
