"""Linking newly learnt topics to older papers: index searches start the moment an ingest learns them.

An ingest learns topics (a phrase now in enough titles, a new acronym) and links its own
papers to them; the older papers naming them are linked afterwards, a batch of topics
per short transaction, so the write lock is never held for the whole backlog. Finding
those papers is a phrase search of the Tantivy index per spelling: at a million papers,
1,000 new papers teach some 800 topics and the searches take 0.8 s of CPU. They need no
SQL and Tantivy lets go of the GIL, so they run on threads of their own, started from
inside the ingest as soon as its topics are learnt, while the ingest stores links and
commits; the linking then mostly finds its searches done. When a search finds many
candidates, their texts are matched in a helper process on the other core
(storage/topic_mentions.py) and the linking only checks that each text is still the one matched.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from storage.db import Database
from storage.ingest_topics import Mentions, TopicRow, find_mentions, link_mentions, paper_texts, pending_topics
from storage.search_index import SearchIndex
from storage.topic_mentions import EARLY_AT, Helper, Text

log = logging.getLogger(__name__)

# Index searches running at once: two, for two cores.
SEARCHES_AT_ONCE = 2
BATCH = 200  # topics per search and per linking transaction
Search = tuple[list[TopicRow], Future[Mentions]]  # topics, and the search for their papers


class TopicLinker:
    """Searches for pending topics' older papers on threads of its own, and links what they find."""

    def __init__(self, db: Database, index: Callable[[], SearchIndex], sync_index: Callable[[], Awaitable[bool]],
                 helper: Helper | None = None):
        self._db = db
        self._index = index
        self._sync_index = sync_index
        self.helper = helper or Helper()
        self._pool: ThreadPoolExecutor | None = None
        self._started: list[Search] = []  # searches for topics an ingest committed

    def _submit(self, topics: list[TopicRow], also: list[int] | None = None) -> Future[Mentions]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SEARCHES_AT_ONCE, thread_name_prefix="topic-search")
        return self._pool.submit(_search_and_confirm, self._index(), topics, also or (), self._db.path, self.helper)

    def search_soon(self, conn: sqlite3.Connection, topics: list[TopicRow], papers: list[int], relink: bool,
                    into: list[Search]) -> None:
        """Start searching for ``topics`` now, from inside the ingest's transaction that learnt them.

        The index does not hold the batch's own ``papers`` yet. The ingest links them
        itself, against every topic it knows once these are learnt; only with ``relink``
        (a spelling the ingest's index gives another topic: storage/ingest_topics.py
        ``_shadowed``) do they join each search's candidates. A search
        is started only when those are the only papers the index is behind on; after
        another writer's unindexed papers, it waits for the index to catch up, as before.
        The futures go to ``into``: the ingest hands them over with ``keep`` once it has
        committed, and drops them when it rolled back.
        """
        seen = self._index().seen_version()
        behind = {int(r[0]) for r in conn.execute("SELECT DISTINCT paper_id FROM search_log WHERE seq > ?", (seen,))}
        if not behind <= set(papers):
            log.debug("the index is behind another writer's papers: topics are searched for after it catches up")
            return
        log.debug("searching the index for older papers naming %d new topics while the ingest goes on", len(topics))
        for i in range(0, len(topics), BATCH):
            part = topics[i : i + BATCH]
            into.append((part, self._submit(part, papers if relink else None)))

    def expect_searches(self) -> None:
        """An ingest begins: start the helper process now where its searches will want it (EARLY_AT)."""
        index = self._index()
        if not self.helper.running and index.count() >= EARLY_AT:
            self.helper.start_soon()

    def keep(self, searches: list[Search]) -> None:
        self._started += searches

    async def link_pending(self, batch: int = BATCH) -> int:
        """Finish linking recently learnt topics to older papers; returns how many topics were done.

        Searches an ingest started are used first. Each batch of topics is one short
        transaction, so the scheduler, the CLI or a test can loop over it. While one batch
        is linked the next ones are searched for: at a million papers the searches took
        0.8 s and the linking 0.5 s.
        """
        done = 0
        while True:
            topics = await self._db.run_sync(pending_topics)
            if not topics:
                self._started.clear()
                return done
            await self._sync_index()  # candidates come from the index: let it hold every stored paper
            searched = {t[0] for part, _ in self._started for t in part}
            ahead: deque[asyncio.Future[Mentions]] = deque(asyncio.wrap_future(f) for _, f in self._started)
            self._started = []
            rest = [t for t in topics if t[0] not in searched]
            batches = deque(rest[i : i + batch] for i in range(0, len(rest), batch))
            try:
                while batches or ahead:
                    while batches and len(ahead) < SEARCHES_AT_ONCE:
                        ahead.append(asyncio.wrap_future(self._submit(batches.popleft())))
                    # Whichever search is done first is linked first: in the 1M bench, the first
                    # started (the larger) was still being matched when the other had finished,
                    # and linking waited 0.14 s for it with nothing to do.
                    finished, _ = await asyncio.wait(ahead, return_when=asyncio.FIRST_COMPLETED)
                    first = next(search for search in ahead if search in finished)
                    ahead.remove(first)
                    found = first.result()
                    # A topic another writer finished, or that a rolled-back ingest never made,
                    # is left out here: link_mentions keeps only topics still pending.
                    # Links only topics it reads back as pending and papers it reads the text of.
                    done += await self._db.run_write(lambda conn, found=found: link_mentions(conn, found),
                                                     check_references=False)
            finally:
                for search in ahead:
                    search.cancel()  # a search still running finishes on its thread, unread

    def close(self) -> None:
        self._started.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.helper.close()


def _search_and_confirm(index: SearchIndex, topics: list[TopicRow], also: Iterable[int], path: str,
                        helper: Helper) -> Mentions:
    """The index's candidates, their texts read ahead, and matched in the helper process when they are many."""
    found = find_mentions(index, topics, also)
    texts = read_ahead(path, found.paper_ids, keep=helper.wanted(len(found.paper_ids)))
    if texts:
        found.confirmed = helper.confirm(found.spellings, texts)
    return found


def read_ahead(path: str, paper_ids: Sequence[int], *, keep: bool = False) -> list[Text]:
    """Read the texts of ``paper_ids`` once on a connection of this thread's own; returns them with ``keep``.

    The linking reads them again to keep only exact mentions, a few thousand papers spread
    over the whole file. Where the system does not keep the file cached, each cost a disk
    read (66-85 us a row at a million papers, against 11 once read), paid inside the
    linking's write transaction. Read here, beside the ingest, they cost it nothing.
    What is linked is decided on the store's own connection: texts kept here are only
    handed to the helper process, whose answers the linking checks against its own reading.
    """
    if not paper_ids:
        return []
    texts: list[Text] = []
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.debug("reading candidate papers ahead skipped: %s", exc)
        return []
    try:
        for row in paper_texts(conn, paper_ids):  # the very query the linking reads them with
            if keep:
                texts.append(row)
    except sqlite3.Error as exc:
        log.debug("reading candidate papers ahead stopped: %s", exc)
        return []
    finally:
        conn.close()
    return texts
