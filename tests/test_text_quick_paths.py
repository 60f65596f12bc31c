"""Quick paths for plain text (storage/text.py, title phrases) give exactly what the general ones do."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.text import clean_space, is_stopword, printable_ascii
from storage.topics import title_phrases

# Every kind of character the quick paths must tell apart: the space, other ASCII
# whitespace, controls, DEL, the no-break space and other non-ASCII text.
_TEXT = st.lists(
    st.sampled_from(["a", "Z", " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x7f", "~",
                     "\u00a0", "\u2009", "é", "\u200b"]),
    max_size=8,
).map("".join)


@settings(max_examples=1_500, deadline=None)
@given(_TEXT)
def test_printable_ascii_is_isascii_and_isprintable(text: str) -> None:
    for long_or_short in (text, text * 40, "x" * 70 + text):  # short texts take another path
        assert printable_ascii(long_or_short) == (long_or_short.isascii() and long_or_short.isprintable())


@settings(max_examples=1_500, deadline=None)
@given(_TEXT)
def test_clean_space_collapses_as_the_pattern_does(text: str) -> None:
    assert clean_space(text) == re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _phrases_run_by_run(words: list[str]) -> set[str]:
    """title_phrases as its rule reads: every 2-3 word run with no stop word at either end, no number, no letter."""
    out = set()
    for n in (2, 3):
        for i in range(len(words) - n + 1):
            run = words[i : i + n]
            if not (is_stopword(run[0]) or is_stopword(run[-1]) or any(w.isdigit() or len(w) < 2 for w in run)):
                out.add(" ".join(run))
    return out


@settings(max_examples=1_500, deadline=None)
@given(st.lists(st.sampled_from(["graph", "kernel", "of", "the", "3", "x", "deep", "net", "for"]), max_size=9))
def test_title_phrases_judges_each_word_once_as_run_by_run(words: list[str]) -> None:
    assert title_phrases(" ".join(words), words) == _phrases_run_by_run(words)
