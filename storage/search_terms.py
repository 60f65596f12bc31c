"""A title or abstract as the search analyzer reads it, each distinct token analysed once, for the index to take as is.

Tantivy ran the stemming analyzer (search_query.make_analyzer) over every token of every
document it indexed, and most tokens are words met thousands of times before. Here each distinct token's term is
worked out once and kept, and the index is handed the terms themselves, one space apart,
on fields whose analyzer only splits at spaces (``index_analyzer``). The terms and their
positions are the stemming analyzer's: its filters read one token at a time, and a token
it drops (over the length limit) is written as ``GAP``, which the index's analyzer drops
in turn, so the words after it keep their positions. tests/test_search_terms.py holds both
against the stemming analyzer. The pairs field (storage/search_pairs.py) reads the same
terms, so a document's text is cut into tokens once.
"""

from __future__ import annotations

import tantivy

TOKENIZER = "paperboy_terms"  # the title and abstract fields' analyzer, registered as this
# Not a letter or a digit, so never a token, and not ASCII, so never what folding leaves.
GAP = "\u00b7"
# One pass over ASCII text: letters lowercased, everything but letters and digits a space.
# The simple tokenizer splits ASCII text at the same places; the analyzer lowercases first.
_ASCII_TOKENS = str.maketrans({c: (c.lower() if c.isalnum() else " ") for c in map(chr, range(128))})
_CACHED_TOKENS = 30_000  # a few MB beside the service's RSS budget
# While the index is written in bulk, beside a writer's 128 MB heap: a million papers'
# abstracts hold several hundred thousand distinct tokens, each analysed again after a clear.
BULK_CACHED_TOKENS = 200_000


def index_analyzer() -> tantivy.TextAnalyzer:
    """What the title and abstract fields do with a text of terms: split at spaces, drop GAP."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.custom_stopword([GAP]))
        .build()
    )


class TextTerms(dict[str, str]):
    """Token -> its analysed term (GAP when the analyzer drops it), filled on first sight."""

    def __init__(self, analyzer: tantivy.TextAnalyzer) -> None:
        super().__init__()
        self._analyzer = analyzer
        # Non-ASCII text is cut by Tantivy's own tokenizer: Python's idea of a letter is not Rust's.
        self._tokens = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).build()
        self.limit = _CACHED_TOKENS

    def __missing__(self, token: str) -> str:
        terms = self._analyzer.analyze(token)
        # Each filter reads one token and yields it or nothing: a token is one term or none.
        term = terms[0] if terms else GAP
        if term == token:
            term = token  # the one string, not two
        if len(self) >= self.limit:
            self.clear()
        self[token] = term
        return term

    def bulk(self, on: bool) -> None:
        """Keep more tokens while the index is written in bulk; back to the service's budget after."""
        self.limit = BULK_CACHED_TOKENS if on else _CACHED_TOKENS
        if len(self) > self.limit:
            self.clear()

    def of_text(self, text: str) -> list[str]:
        """The analysed terms of ``text`` in order, GAP where the analyzer drops a token."""
        tokens = text.translate(_ASCII_TOKENS).split() if text.isascii() else self._tokens.analyze(text)
        return list(map(self.__getitem__, tokens))


__all__ = ["BULK_CACHED_TOKENS", "GAP", "TOKENIZER", "TextTerms", "index_analyzer"]
