"""The Store: one open database and the repository functions every surface calls."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from storage import acronyms, author_profile, heap, index_feed, paper_rows, searching, sources_repo, topic_links
from storage import ingest as _ingest
from storage import search_rank as rank
from storage.author_lookup import AuthorLookup, LastBuild
from storage.backup import copy_database
from storage.db import Database, connect, iso, migrate, store_error
from storage.errors import InvalidInputError, StoreError
from storage.ingest_topics import rehash_titles
from storage.models import (
    AuthorMatch,
    AuthorProfile,
    IngestReport,
    Paper,
    PaperRecord,
    PollValidators,
    Source,
    Topic,
)
from storage.outbox import Outbox
from storage.phrase_counts import recount_phrases
from storage.search import Expansions
from storage.search_index import SearchIndex, SyncReport
from storage.search_rank import SearchHit
from storage.search_reader import SearchReader
from storage.subscriptions import DEFAULT_MAX_AGE
from storage.text import key_hash
from storage.topic_linker import BATCH, Search, TopicLinker
from storage.topics import TopicIndex

log = logging.getLogger(__name__)


def _sync_paused(index: SearchIndex, conn: sqlite3.Connection) -> SyncReport:
    with heap.collector_paused():  # rebuilding the index after a bulk ingest makes a document a paper
        return index.sync(conn)


def index_folder(path: str | Path) -> Path:
    """Where the derived search index of the database at ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name + ".search")


@dataclass(frozen=True, slots=True)
class Stats:
    papers: int
    authors: int
    topics: int
    newest: Paper | None
    sources: list[Source]
    pending_deliveries: int


class Store:
    """The paperboy database. Open with ``await Store.open(path)``; close with ``close()``."""

    def __init__(self, db: Database, index: SearchIndex | None = None) -> None:
        self.db = db
        self.outbox = Outbox(db)
        self.index = index
        self._index_version = -1  # the data_version the search index was last synced at
        self._topic_index: TopicIndex | None = None
        self._expansions: tuple[int, Expansions] | None = None
        self._author_lookup = AuthorLookup(db, self.data_version)
        # [announce] max_age: papers older than this when first seen are stored but not announced.
        self.announce_max_age: timedelta | None = DEFAULT_MAX_AGE
        # Records from which a load into an empty store is indexed by a process beside it.
        self.index_feed_at = index_feed.AT_LEAST
        self._acronyms: dict[str, str] | None = None  # the shipped dictionary until use_acronyms()
        self._analyzer = rank.Analyzer()
        self._reader: SearchReader | None = None  # the index's searches, on a read connection of their own
        self._linker = TopicLinker(db, lambda: self.search_index, self.sync_index)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        search_index: bool = True,
        announce_max_age: timedelta | None = DEFAULT_MAX_AGE,
        busy_retries: int = 0,
        hand_back_cache: bool = False,
    ) -> Store:
        """Open (creating and migrating) the database at ``path``.

        Searches and topic linking read a Tantivy index derived from the papers table.
        With ``search_index`` (the default) it is kept in the folder ``<path>.search``
        beside the database and healed from it on open; without it, it is built in memory
        from the papers table on open, for tests and short-lived helpers that should leave
        no folder behind. The store is always a file: its bulk writes run on a connection
        of their own, which an SQLite in-memory database cannot share.
        Opening writes nothing to an up-to-date database, so readers (search, export,
        db check) never wait for another process's write lock. ``busy_retries``: how
        many more times a write waits out the busy timeout (the service's own writes).
        ``hand_back_cache``: for a process that stays up (the service), give the bulk-write
        connection's page cache back after every call instead of keeping it until close.
        """
        if str(path) == ":memory:":
            raise InvalidInputError(
                "paperboy keeps its store in a file, not in memory (its bulk writes use a second"
                " connection, which cannot see an in-memory database); point --db at a file,"
                " for a try-out one in a temporary folder"
            )
        conn = await connect(path)
        try:
            await migrate(conn, path)
        except sqlite3.Error as exc:
            await conn.close()
            raise store_error(exc, path) from None
        except BaseException:
            await conn.close()
            raise
        store = cls(Database(conn, str(path), busy_retries=busy_retries, hand_back_cache=hand_back_cache))
        store.announce_max_age = announce_max_age
        folder = index_folder(path) if search_index else None
        try:
            await store._recount_phrases()
            store.index = await asyncio.to_thread(SearchIndex.open, folder)
            await store.sync_index()
        except (sqlite3.Error, OSError) as exc:
            await store.close()
            raise store_error(exc, path) from None
        except BaseException:
            await store.close()
            raise
        return store

    async def _recount_phrases(self) -> None:
        """Once, after migration 0006: title phrases counted and titles keyed under hashes SQL cannot compute."""
        if await self.db.fetchone("SELECT 1 FROM meta WHERE key = 'phrase_counts_stale'") is not None:
            n = await self.db.run_write(recount_phrases)
            log.info("recounted %d title phrases under hashed keys", n)
        if await self.db.fetchone("SELECT 1 FROM meta WHERE key = 'title_hashes_stale'") is not None:
            n = await self.db.run_write(rehash_titles)
            log.info("keyed %d papers by title hash", n)

    @property
    def search_index(self) -> SearchIndex:
        """The search index (on disk or in memory); an error once the store is closed."""
        if self.index is None:
            raise StoreError(f"the store {self.path} is closed")
        return self.index

    @property
    def path(self) -> str:
        return self.db.path

    async def close(self) -> None:
        await asyncio.to_thread(self._linker.close)  # its searches read the index closed below
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.index is not None:
            index, self.index = self.index, None
            await self.db.run_sync(lambda _conn: index.close())
        await self.db.close()

    @property
    def topic_helper_peak_rss(self) -> int:
        """Bytes: the high-water mark its topic helper process reported (storage/topic_mentions.py); 0 if none ran."""
        return self._linker.helper.peak_rss

    async def sync_index(self) -> bool:
        """Bring the search index up to the store's change log (a no-op when it is current).

        False when it could not: another process is writing the index, so this one only reads it.
        """
        if self.index is None:
            return False
        version = await self.data_version()
        if version == self._index_version:
            return True
        index = self.index
        report = await self.db.run_sync(lambda conn: _sync_paused(index, conn))
        if not report.read_only:
            self._index_version = version
        return not report.read_only

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- writing ---------------------------------------------------------------

    async def ingest(
        self,
        records: Iterable[PaperRecord],
        *,
        source: str | None = None,
        kind: str = "listing",
        location: str | None = None,
        owner: str | None = None,
        progress: Callable[[int], None] | None = None,
        size_hint: int | None = None,
    ) -> IngestReport:
        """Store a batch in one transaction: new papers, merged updates, topics, outbox rows.

        ``records`` that are not a list are read as they come when ``size_hint`` says about
        how many they are (a ListingStream: the parse goes on while the first are stored);
        otherwise they are gathered first.
        """
        if kind not in _ingest.SOURCE_KINDS:
            raise InvalidInputError(f"unknown source kind {kind!r}; use one of {_ingest.SOURCE_KINDS}")
        if self._topic_index is None:
            # Filled inside each ingest's transaction (ingest_topics.catch_up): with every topic
            # the first time, then with those another process has added since.
            self._topic_index = TopicIndex(phrases={}, acronyms={})
        index = self._topic_index
        if size_hint is None and not isinstance(records, list | tuple):
            records = list(records)
        searches: list[Search] = []  # for older papers naming the topics this batch teaches
        feed = index_feed.IndexFeed(self.index, at_least=self.index_feed_at) if self.index is not None else None
        if self.index is not None and (size_hint or records):
            self._linker.expect_searches()

        def write(conn: sqlite3.Connection) -> tuple[IngestReport, bool]:
            searches.clear()
            with heap.collector_paused():  # a batch of a million papers builds tens of millions of objects
                return _ingest.ingest(
                    conn,
                    records,
                    source=source or "cli",
                    kind=kind,
                    location=location,
                    owner=owner,
                    topic_index=index,
                    progress=progress,
                    size_hint=size_hint,
                    feed=feed,
                    max_age=self.announce_max_age,
                    on_pending=(lambda conn, topics, papers, relink:
                                self._linker.search_soon(conn, topics, papers, relink, searches))
                    if self.index is not None else None,
                )

        # The log is copied into the database file once the batch is in the search index as well:
        # both sync their files, and the index's commit waited behind the copy (storage/checkpoint.py).
        with self.db.checkpoint_held():
            began = time.perf_counter()
            try:
                # Every id the batch writes is of a row it wrote or read in this transaction, or of a
                # topic from the cached index (topics are never deleted; a rollback drops the cache).
                report, _ = await self.db.run_write(write, check_references=False)
            except BaseException:
                # The rolled-back batch may have taught the cached index topics that do not exist,
                # and searches were started for them.
                self._topic_index = None
                if feed is not None:
                    await asyncio.to_thread(feed.abort)
                raise
            written = time.perf_counter()
            # What the steps inside the transaction leave of its time: the lock, BEGIN and COMMIT.
            report.seconds["commit"] = max(0.0, written - began - sum(report.seconds.values()))
            if feed is not None and feed.active:
                await asyncio.to_thread(feed.commit)  # the store has committed: the index commits at its state
            self._linker.keep(searches)
            if report.changed:
                await self.sync_index()
                self.forget_derived()
            report.seconds["index"] = time.perf_counter() - written
        log.debug("stored %d new and %d updated papers: %s", report.new, report.updated,
                  report.describe_steps())
        return report

    def forget_derived(self) -> None:
        """Papers changed (here or in another process): drop what was derived from them before."""
        self._expansions = None
        self._author_lookup.forget()

    async def link_pending_topics(self, batch: int = BATCH) -> int:
        """Finish linking recently learnt topics to older papers; returns how many topics were done.

        Each batch of topics is one short transaction (storage/topic_linker.py). Called after an
        ingest, it holds the log's copying back as the ingest did (storage/checkpoint.py).
        """
        with self.db.checkpoint_held():
            return await self._linker.link_pending(batch)

    # -- reading papers ----------------------------------------------------------

    async def _number(self, sql: str) -> int:
        row = await self.db.fetchone(sql)
        return int(row[0]) if row else 0

    async def data_version(self) -> int:
        return await self._number("SELECT value FROM meta WHERE key = 'data_version'")

    async def _papers(self, where: str, params: Sequence[object] = (), tail: str = "") -> list[Paper]:
        rows = await self.db.fetchall(f"SELECT {paper_rows.PAPER_COLUMNS} FROM papers p {where} {tail}", params)
        return await self._hydrate(rows)

    async def _hydrate(self, rows: list) -> list[Paper]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        authors = await self.db.fetchall(paper_rows.authors_sql(len(ids)), ids)
        sources = await self.db.fetchall(paper_rows.sources_sql(len(ids)), ids)
        return paper_rows.to_papers(rows, authors, sources)

    async def get_paper(self, key: str) -> Paper | None:
        """A paper by its key, or by an alias (arXiv id with or without version, DOI)."""
        key = key.strip()
        papers = await self._papers("WHERE p.key_hash = ? AND p.key = ?", (key_hash(key), key))
        if papers:
            return papers[0]
        alias = key.lower() if key.lower().startswith("10.") else key
        if "v" in alias and alias.rsplit("v", 1)[-1].isdigit():
            alias = alias.rsplit("v", 1)[0]
        papers = await self._papers(
            "WHERE p.id = (SELECT paper_id FROM paper_aliases WHERE alias = ?)", (alias,)
        )
        return papers[0] if papers else None

    async def latest(
        self,
        limit: int = 50,
        *,
        author_key: str | None = None,
        topic_slug: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
    ) -> list[Paper]:
        """Newest first by when this store first saw them."""
        clauses, params = [], []
        if author_key is not None:
            clauses.append(
                "p.id IN (SELECT pa.paper_id FROM paper_authors pa JOIN authors a"
                " ON a.id = pa.author_id WHERE a.key = ?)"
            )
            params.append(author_key)
        if topic_slug is not None:
            clauses.append(f"p.id IN {topic_links.PAPERS_OF_SLUG}")
            params += [topic_slug, topic_slug]
        if category is not None:
            clauses.append("lower(p.category) = lower(?)")
            params.append(category)
        if since is not None:
            clauses.append("p.first_seen_at > ?")
            params.append(iso(since))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        params.append(max(0, int(limit)))
        return await self._papers(
            where, params, "ORDER BY p.first_seen_at DESC, p.published DESC, p.id DESC LIMIT ?"
        )

    async def all_papers(self) -> list[Paper]:
        return await self._papers("", (), "ORDER BY p.published DESC, p.id")

    async def random_paper(self) -> Paper | None:
        row = await self.db.fetchone("SELECT max(id) FROM papers")
        if not row or row[0] is None:
            return None
        pick = random.randint(1, int(row[0]))
        papers = await self._papers("WHERE p.id >= ?", (pick,), "ORDER BY p.id LIMIT 1")
        return papers[0] if papers else None

    async def count_papers(self) -> int:
        return await self._number("SELECT count(*) FROM papers")

    # -- search ----------------------------------------------------------------

    def use_acronyms(self, acronyms: dict[str, str]) -> None:
        """The field acronyms search falls back on (``storage.acronyms.load``), beneath the learnt ones."""
        self._acronyms = dict(acronyms)
        self._expansions = None

    async def expansions(self) -> Expansions:
        version = await self.data_version()
        if self._expansions is None or self._expansions[0] != version:
            by_acronym: dict[str, str] = {}
            by_phrase: dict[str, str] = {}
            for name, expansion in await self.db.fetchall(
                "SELECT name, expansion FROM topics WHERE kind = 'acronym' AND expansion IS NOT NULL"
            ):
                by_acronym.setdefault(name.lower(), expansion)
                by_phrase.setdefault(expansion, name)
            # The dictionary only fills gaps: what the lab's papers define wins.
            if self._acronyms is None:
                self._acronyms = acronyms.load()
            for name, expansion in self._acronyms.items():
                by_acronym.setdefault(name.lower(), expansion)
                by_phrase.setdefault(expansion, name)
            self._expansions = (version, Expansions(by_acronym, by_phrase))
        return self._expansions[1]

    def search_reader(self) -> SearchReader:
        """The reader that answers searches through the index (``storage.search_reader``)."""
        if self._reader is None:
            self._reader = SearchReader(self.path, self.search_index, self._analyzer)
        return self._reader

    async def search(self, query: str, limit: int = 10, offset: int = 0) -> list[Paper]:
        """Ranked papers for any text a user may type; never a query syntax error."""
        return [hit.paper for hit in await self.search_hits(query, limit, offset, explain=False)]

    async def search_hits(self, query: str, limit: int = 10, offset: int = 0, *, explain: bool = True
                          ) -> list[SearchHit]:
        """Ranked papers with what matched where (``storage.searching`` says how)."""
        return await searching.search_hits(self, query, limit, offset, explain=explain)

    async def _in_order(self, ids: list[int]) -> list[Paper]:
        if not ids:
            return []
        found = {p.id: p for p in await self._papers(f"WHERE p.id IN ({','.join('?' * len(ids))})", ids)}
        return [found[i] for i in ids if i in found]

    async def count_matches(self, query: str) -> int:
        """Papers holding every word of ``query`` (by its words, phrases and acronyms, not approximately)."""
        return await searching.count_matches(self, query)

    # -- authors ---------------------------------------------------------------

    async def match_authors(self, query: str, limit: int = 25) -> list[AuthorMatch]:
        """Authors ranked by closeness to ``query``, then by paper count (``storage.author_lookup``)."""
        return await self._author_lookup.match(query, limit)

    @property
    def author_index_build(self) -> LastBuild | None:
        """How the author index was last built (in a worker process or here); None before the first."""
        return self._author_lookup.last_build

    async def author_profile(self, key: str) -> AuthorProfile | None:
        """An author's papers, coauthors, years and topics (``storage.author_profile``)."""
        return await author_profile.profile(self, key)

    # -- topics ----------------------------------------------------------------

    async def topics(self, *, kind: str | None = None, min_papers: int = 1) -> list[Topic]:
        clause = "t.kind = ? AND" if kind else ""
        params: list[object] = [kind] if kind else []
        params.append(min_papers)
        rows = await self.db.fetchall(
            f"SELECT t.slug, t.name, t.kind, {topic_links.count_of('t.id')} AS n, t.expansion FROM topics t"
            f" WHERE {clause} n >= ? ORDER BY n DESC, t.slug",
            params,
        )
        return [Topic(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]

    async def topic(self, slug: str) -> Topic | None:
        row = await self.db.fetchone(
            f"SELECT t.slug, t.name, t.kind, {topic_links.count_of('t.id')}, t.expansion FROM topics t"
            " WHERE t.slug = ?",
            (slug.strip().lower(),),
        )
        return Topic(row[0], row[1], row[2], int(row[3]), row[4]) if row else None

    async def categories(self) -> list[tuple[str, int]]:
        rows = await self.db.fetchall(
            "SELECT category, count(*) FROM papers WHERE category IS NOT NULL"
            " GROUP BY category ORDER BY count(*) DESC, category"
        )
        return [(r[0], int(r[1])) for r in rows]

    # -- sources ---------------------------------------------------------------

    async def sources(self) -> list[Source]:
        return await sources_repo.sources(self.db)

    async def source(self, name: str) -> Source | None:
        return await sources_repo.source(self.db, name)

    async def poll_validators(self, name: str) -> PollValidators | None:
        """What the next poll of source ``name`` sends to skip an unchanged document (no paper count)."""
        return await sources_repo.poll_validators(self.db, name)

    async def register_source(self, name: str, kind: str, location: str | None, owner: str | None) -> None:
        await self.db.run_write(lambda conn: sources_repo.upsert_source(conn, name, kind, location, owner))

    async def record_poll(self, name: str, *, error: str | None = None, etag: str | None = None,
                          last_modified: str | None = None, content_hash: str | None = None) -> None:
        """Remember a poll's outcome (``storage.sources_repo.record_poll``)."""
        await sources_repo.record_poll(self.db, name, error=error, etag=etag, last_modified=last_modified,
                                       content_hash=content_hash)

    # -- overview --------------------------------------------------------------

    async def stats(self) -> Stats:
        newest = await self._papers("", (), "ORDER BY p.published DESC, p.id DESC LIMIT 1")
        return Stats(
            papers=await self.count_papers(),
            authors=await self._number("SELECT count(*) FROM authors"),
            topics=await self._number("SELECT count(*) FROM topics WHERE kind != 'category'"),
            newest=newest[0] if newest else None,
            sources=await self.sources(),
            pending_deliveries=await self._number("SELECT count(*) FROM deliveries WHERE status = 'pending'"),
        )

    async def check(self) -> list[str]:
        """Problems SQLite, our own invariants and the search index show; an empty list means healthy."""
        problems = await sources_repo.check(self.db)
        if self.index is not None:
            synced = await self.sync_index()
            indexed, stored = await asyncio.to_thread(self.index.count), await self.count_papers()
            if not synced and indexed != stored:
                log.warning("search index check skipped: another paperboy is writing its index")
            elif indexed != stored:
                problems.append(f"search index: it holds {indexed:,} papers and the store {stored:,};"
                                " run `paperboy db reindex`")
        return problems

    async def reindex(self) -> None:
        """Rebuild the search index from the papers table, and the papers of each topic from paper_topics."""
        await self.db.run_write(topic_links.rewrite)
        if self.index is not None:
            index = self.index
            await self.db.run_sync(index.rebuild)
            self._index_version = await self.data_version()

    async def backup(self, target: str | Path) -> None:
        """Copy the live database with SQLite's online backup API (safe while others write)."""
        await copy_database(self.db.conn, Path(target))


__all__ = ["Stats", "Store", "StoreError"]
