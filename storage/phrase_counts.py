"""Title phrase counts across batches: adding a batch's counts, and which of its phrases are now common enough.

A phrase becomes a topic once ``min_phrase_papers`` titles hold it, whichever batches
brought them, so every phrase's count is kept (phrase_counts, keyed by ``phrase_hash``).
A batch's counts arrive in chunks, each counted where its titles were read (in a worker
process for a big batch, storage/topic_workers.py) and packed into sorted 64-bit keys;
SQLite adds them from JSON arrays, a slice of the key space at a time in key order, so
the writing process executes no SQL statement per phrase (at a million papers, some 14
million phrases): per phrase it only sorts each slice's keys and, once, picks out the
phrases now common enough.
"""

from __future__ import annotations

import bisect
import itertools
import json
import sqlite3
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from storage.topics import min_phrase_papers, phrase_hash, title_phrases

# A packed key is phrase_hash << COUNT_BITS | papers: 48 + 15 bits stay a signed 64-bit
# integer, which JSON hands SQLite exactly. A chunk counts at most COUNT_LIMIT titles, so
# its counts always fit.
COUNT_BITS = 15
COUNT_LIMIT = (1 << COUNT_BITS) - 1

# A batch counting fewer phrases than this adds them to phrase_counts_recent; the recent
# counts are folded into phrase_counts (in key order, touching each page once) when they
# reach as many: at a million papers, once every dozen or so batches of 1,000 papers.
RECENT_PHRASES = 200_000


@dataclass(slots=True)
class ChunkCounts:
    """How many of a chunk's titles hold each phrase: packed and sorted for SQLite, and the phrases by hash."""

    packed: array  # array("Q"), sorted: phrase_hash << COUNT_BITS | papers, one per distinct phrase
    hashes: array  # array("Q"): each phrase's hash, in the order of ``phrases``
    phrases: list[str]

    def __len__(self) -> int:
        return len(self.phrases)


def count_titles(titles: Sequence[str]) -> ChunkCounts:
    """The phrase counts of up to COUNT_LIMIT titles."""
    if len(titles) > COUNT_LIMIT:
        raise ValueError(f"a chunk counts at most {COUNT_LIMIT} titles, not {len(titles)}")
    counted: Counter[str] = Counter()
    for title in titles:
        counted.update(title_phrases(title))
    phrases = list(counted)
    hashes = array("Q", map(phrase_hash, phrases))
    packed = array("Q", sorted(h << COUNT_BITS | n for h, n in zip(hashes, counted.values(), strict=True)))
    return ChunkCounts(packed, hashes, phrases)


def add_and_ripen(conn: sqlite3.Connection, chunks: Sequence[ChunkCounts]) -> list[str]:
    """Add a batch's phrase counts to the stored ones; the batch's phrases now common enough, sorted."""
    entries = sum(len(chunk) for chunk in chunks)
    if not entries:
        return []
    floor = min_phrase_papers()
    if entries >= RECENT_PHRASES:
        # Many phrases: straight into phrase_counts, whose common phrases one scan then finds
        # (the recent counts first folded in, so that scan sees every count).
        fold_recent(conn, force=True)
        _add_counts(conn, "phrase_counts", chunks, entries)
        ripe = {int(h) for (h,) in conn.execute("SELECT hash FROM phrase_counts WHERE papers >= ?", (floor,))}
    else:
        _add_counts(conn, "phrase_counts_recent", chunks, entries)
        keys = json.dumps(sorted({h for chunk in chunks for h in chunk.hashes}))
        ripe = {int(h) for (h,) in conn.execute(_RIPE_AMONG, (keys, floor))}
        fold_recent(conn)
    return sorted({phrase for chunk in chunks
                   for h, phrase in zip(chunk.hashes, chunk.phrases, strict=True) if h in ripe})


# The keys of a JSON array whose stored counts, in both tables, reach the floor.
_RIPE_AMONG = (
    "SELECT k.value FROM json_each(?) AS k"
    " WHERE coalesce((SELECT papers FROM phrase_counts WHERE hash = k.value), 0)"
    " + coalesce((SELECT papers FROM phrase_counts_recent WHERE hash = k.value), 0) >= ?"
)

_ADD = {
    table: f"INSERT INTO {table} (hash, papers) SELECT value >> {COUNT_BITS}, value & {COUNT_LIMIT}"
           " FROM json_each(?) WHERE true ON CONFLICT (hash) DO UPDATE SET papers = papers + excluded.papers"
    for table in ("phrase_counts", "phrase_counts_recent")
}


# Keys written per statement: a slice of the key space, gathered from every chunk and sorted.
KEYS_AT_ONCE = 1_000_000


def _add_counts(conn: sqlite3.Connection, table: str, chunks: Sequence[ChunkCounts], entries: int) -> None:
    """Add every chunk's counts to ``table`` in key order, one slice of the key space at a time.

    Each chunk is sorted, but chunk after chunk wrote all over the table: at a million
    papers its 13 million keys left the b-tree's pages part empty (15 more bytes a paper)
    and each chunk rewrote pages the cache had let go. In key order, each page is filled
    once, as one sorted pass over the whole batch did, without holding it all as Python ints.
    """
    slices = max(1, -(-entries // KEYS_AT_ONCE))
    bounds = [(i << 63) // slices for i in range(slices)] + [1 << 63]  # packed keys are below 2**63
    for low, high in itertools.pairwise(bounds):
        part = array("Q")
        for chunk in chunks:
            packed = chunk.packed
            part.extend(packed[bisect.bisect_left(packed, low):bisect.bisect_left(packed, high)])
        if part:
            conn.execute(_ADD[table], (json.dumps(sorted(part)),))


def fold_recent(conn: sqlite3.Connection, *, force: bool = False) -> None:
    """Move the recent counts into phrase_counts once they are many (or now, ``force``)."""
    if not force and conn.execute("SELECT count(*) FROM phrase_counts_recent").fetchone()[0] < RECENT_PHRASES:
        return
    conn.execute(
        "INSERT INTO phrase_counts (hash, papers) SELECT hash, papers FROM phrase_counts_recent"
        " WHERE true ORDER BY hash ON CONFLICT (hash) DO UPDATE SET papers = papers + excluded.papers"
    )
    conn.execute("DELETE FROM phrase_counts_recent")


def recount_phrases(conn: sqlite3.Connection) -> int:
    """Count every stored title's phrases afresh (after migration 0006 dropped the text-keyed counts)."""
    counted: Counter[int] = Counter()
    for (title,) in conn.execute("SELECT title FROM papers"):
        counted.update(phrase_hash(p) for p in title_phrases(title))
    conn.execute("DELETE FROM phrase_counts")
    conn.execute("DELETE FROM phrase_counts_recent")
    conn.executemany("INSERT INTO phrase_counts (hash, papers) VALUES (?, ?)", sorted(counted.items()))
    conn.execute("DELETE FROM meta WHERE key = 'phrase_counts_stale'")
    return len(counted)
