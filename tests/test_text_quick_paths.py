"""storage/text.py's quick paths for clean text give exactly what the general ones do, on any text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.text import clean_space, printable_ascii

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
    assert printable_ascii(text) == (text.isascii() and text.isprintable())


@settings(max_examples=1_500, deadline=None)
@given(_TEXT)
def test_clean_space_collapses_as_the_pattern_does(text: str) -> None:
    assert clean_space(text) == re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
