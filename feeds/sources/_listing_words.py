"""Reading the words of a whole listing at once, for the title/author evidence in _listing_names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import filterfalse

# A word: letters and digits of any script, pieces joined by an apostrophe or a hyphen.
WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")

# ASCII bytes that cannot be part of a word (everything but letters, digits and the
# apostrophe and hyphen that join word pieces) become spaces; other bytes stay.
_CHUNK_TABLE = bytes(b if b >= 0x80 or chr(b).isalnum() or chr(b) in "'-" else 0x20 for b in range(256))
_BATCH_CHARS = 1 << 18


def words_of(text: str) -> Iterator[str]:
    """Words of a text as the evidence index keeps them (whole and hyphen pieces)."""
    for w in WORD_RE.findall(text):
        yield w
        if "-" in w:
            yield from w.split("-")


def _chunks_of(texts: list[str]) -> list[bytes]:
    return "\n".join(texts).encode("utf-8", "surrogatepass").translate(_CHUNK_TABLE).split()


def document_words(texts: Iterable[str]) -> set[str]:
    """Every word of every text (as words_of reads each), found in one pass over the document.

    Whitespace and ASCII punctuation never sit inside a word, so the text is cut there
    at C speed and only each distinct chunk is read by the word pattern. Texts go in
    batches of about _BATCH_CHARS, so neither a copy of the whole document nor a list
    of all its words is ever held at once.
    """
    chunks: set[bytes] = set()
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if size >= _BATCH_CHARS:
            chunks.update(_chunks_of(batch))
            batch, size = [], 0
    chunks.update(_chunks_of(batch))
    # A chunk of ASCII letters and digits only is one word: those are joined, decoded and
    # cut again in C; only the others go through the word pattern.
    words = set(_joined(filter(bytes.isalnum, chunks)))
    for chunk in filterfalse(bytes.isalnum, chunks):
        words.update(words_of(chunk.decode("utf-8", "surrogatepass")))
    return words


def _joined(chunks: Iterable[bytes]) -> list[str]:
    text = b"\n".join(chunks).decode("ascii")
    return text.split("\n") if text else []
