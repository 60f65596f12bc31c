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

from collections.abc import Iterable
from itertools import pairwise

import tantivy

FIELD = "pairs"
_PAIR = b"\x01\x01"  # two pair words side by side, in a text's mask

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


class Pairs:
    """Which analysed words pair up, and the pair terms of a text or of a phrase's terms."""

    def __init__(self, analyzer: tantivy.TextAnalyzer) -> None:
        self.words = frozenset(t for w in PAIR_WORDS for t in analyzer.analyze(w))

    def of_document(self, terms: list[str], field: str) -> set[str]:
        """The pair terms of one field's analysed text (storage.search_terms), each once.

        Only where two pair words stand side by side does Python build anything: which
        terms are pair words is read in C, and the pairs are found in that mask.
        """
        mask = bytes(map(self.words.__contains__, terms))
        lead = field[0] + " "
        found: set[str] = set()
        at = mask.find(_PAIR)
        while at >= 0:
            found.add(lead + terms[at] + " " + terms[at + 1])
            at = mask.find(_PAIR, at + 1)
        return found

    def of_terms(self, terms: Iterable[str], field: str) -> list[str]:
        """The pair terms a run of analysed terms (a phrase) must hold in ``field``."""
        lead = field[0] + " "
        return list(dict.fromkeys(lead + a + " " + b for a, b in pairwise(terms)
                                  if a in self.words and b in self.words))


__all__ = ["FIELD", "PAIR_WORDS", "Pairs"]
