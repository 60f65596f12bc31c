"""Searching the store: a query's plan, candidates from the search index, re-ranking, explanations.

``Store.search`` and ``Store.search_hits`` call in here. The plan and the
re-ranking are engine-independent (``storage.search_rank``); the Tantivy index
(``storage.search_index``, on disk or in memory) supplies the candidates. The
whole search is one worker-thread call (``storage.search_reader``), made again
after a refresh when the store has changed. A query that is exactly a person's
name also brings that person's papers, matched in an authors field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from storage.search import Expansions
from storage.search_rank import SearchHit
from storage.search_reader import SearchReader, Stale

if TYPE_CHECKING:
    from storage.store import Store

T = TypeVar("T")


async def search_hits(store: Store, query: str, limit: int = 10, offset: int = 0, *, explain: bool = True
                      ) -> list[SearchHit]:
    """Ranked papers with what matched where (``storage.search_rank`` says how they are ordered).

    Without ``explain`` a one-group query skips reading its hits' text (their order is the engine's).
    """
    limit = max(0, min(int(limit), 100))
    offset = max(0, int(offset))
    if limit == 0:
        return []
    return await _fresh(store, lambda reader, expansions, at: reader.hits(
        query, limit, offset, explain, expansions, at))


async def count_matches(store: Store, query: str) -> int:
    """Papers holding every word of ``query`` (by its words, phrases and acronyms, not approximately)."""
    return await _fresh(store, lambda reader, expansions, at: reader.count(query, expansions, at))


async def _fresh(store: Store, call: Callable[[SearchReader, Expansions, int | None], T]) -> T:
    """``call`` in one worker thread, with the index synced and the expansions read at the store's version.

    The reader checks the version itself; only when the store has changed since
    (an ingest here or in another process) are the index and expansions brought
    up to date first, and the call made again.
    """
    reader = store.search_reader()
    cached = store._expansions
    if cached is not None and cached[0] == store._index_version:
        try:
            return await asyncio.to_thread(call, reader, cached[1], cached[0])
        except Stale:
            pass
    await store.sync_index()
    expansions = await store.expansions()
    return await asyncio.to_thread(call, reader, expansions, None)
