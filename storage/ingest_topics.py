"""Topics an ingest batch teaches and links: acronyms, phrases and categories, linked to the papers naming them."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import topic_links, topic_workers
from storage.errors import StoreError
from storage.phrase_counts import ChunkCounts, add_and_ripen
from storage.text import title_hash
from storage.topic_mentions import Confirmed, Matcher, paper_texts, spelt, text_digest
from storage.topic_mentions import chunks as _chunks
from storage.topics import (
    TopicIndex,
    acronym_slug,
    phrase_slug,
)

if TYPE_CHECKING:
    from storage.search_index import SearchIndex

log = logging.getLogger(__name__)

# The category topics, read through their own partial index (migration 0013).
CATEGORIES = "SELECT id, slug FROM topics WHERE kind = 'category'"


TopicRow = tuple[int, str, str, str | None]  # id, kind, name, expansion
# Told, inside the ingest's transaction, of the topics still to be linked to older papers, of the batch's
# papers, and whether those must be linked to the topics again with the older ones (see ``_shadowed``).
OnPending = Callable[[sqlite3.Connection, list[TopicRow], list[int], bool], None]


@dataclass(slots=True)
class PaperText:
    """What topics are learnt from and linked by: a paper's stored title, abstract and category."""

    title: str
    abstract: str
    category: str | None


def learn_and_link(
    conn: sqlite3.Connection,
    papers: dict[int, PaperText],
    fresh: set[int],
    had_papers: bool,
    index: TopicIndex,
    on_pending: OnPending | None = None,
    seconds: dict[str, float] | None = None,
    *,
    by_topic: bool = True,
) -> bool:
    """Learn the topics a batch teaches, then link each of its papers afresh; True if topics grew.

    Works from the batch's own texts (never re-reading rows). A big batch's papers are
    matched against the topics in worker processes (storage/topic_workers.py).
    ``on_pending`` hears of the topics older papers are still to be linked to, and of the
    batch's papers, as soon as the topics are learnt, so the search for those older papers
    can start (storage/topic_linker.py). ``seconds`` (keyed by storage.models.INGEST_STEPS)
    gets each step's time added under "topics" and "links". ``by_topic=False`` is for a bulk
    batch that writes the papers of each topic again at its end (storage/topic_links.py).
    """
    began = time.perf_counter()
    pending: list[TopicRow] = []
    grew = learn_topics(conn, papers, fresh, had_papers, index, pending)
    if pending and on_pending is not None:
        on_pending(conn, pending, list(papers), _shadowed(pending, index))
    learnt = time.perf_counter()
    link_topics(conn, papers, index, fresh, by_topic=by_topic)
    if seconds is not None:
        seconds["topics"] += learnt - began
        seconds["links"] += time.perf_counter() - learnt
    return grew


def _shadowed(topics: list[TopicRow], index: TopicIndex) -> bool:
    """Whether the index links some spelling of ``topics`` to another topic than the linking of older papers does.

    The batch's own papers are linked through ``index``, where a spelling stands for one
    topic; the older papers' linking (``_link_everywhere``) gives a spelling to every
    pending topic that has it, as when two acronyms share one long form. Only then must
    the batch's papers be read again with the older ones: otherwise that found no link
    and cost a fifth of the linking at a million papers.
    """
    return any(len(ids) > 1 or spelt(index, spelling).get(spelling) != ids[0]
               for spelling, ids in _spellings(topics).items())


def catch_up(conn: sqlite3.Connection, index: TopicIndex) -> None:
    """Teach ``index`` the topics another process created since it last looked (inside the transaction).

    A store's index lives as long as the store; without this, a topic the CLI learnt beside
    a running service was never linked to the service's later papers.
    """
    index.take(conn.execute("SELECT id, kind, name, expansion FROM topics WHERE id > ? ORDER BY id",
                            (index.newest,)))


def learn_topics(
    conn: sqlite3.Connection,
    papers: dict[int, PaperText],
    fresh: set[int],
    had_papers: bool,
    index: TopicIndex,
    pending: list[TopicRow] | None = None,
) -> bool:
    """Create topics that this batch teaches (older papers naming them are linked later, see ``pending``).

    Topics are created in paper order, as the batch's papers define them, wherever the
    definitions were read (storage/topic_workers.py): the first paper to define an acronym
    gives its long form.
    """
    grew = False
    known = {slug for _, slug in conn.execute(CATEGORIES)}
    waiting = pending if had_papers else None  # with no older papers, nothing waits to be linked
    definitions, counts = _lessons(papers, fresh)
    for paper_id in sorted(papers):
        for acronym, phrase in definitions.get(paper_id, ()):
            grew |= _teach(conn, index, waiting, "acronym", acronym, phrase, pending=had_papers)
        category = papers[paper_id].category
        if category and category.lower() not in known:
            if not _topic_exists(conn, category.lower()):
                topic_id = _create_topic(conn, category.lower(), category, "category", None)
                index.take([(topic_id, "category", category, None)])
                grew = True
            known.add(category.lower())
    for phrase in add_and_ripen(conn, counts):
        grew |= _teach(conn, index, waiting, "phrase", phrase, None, pending=had_papers)
    return grew


def _lessons(
    papers: dict[int, PaperText], fresh: set[int]
) -> tuple[dict[int, list[tuple[str, str]]], list[ChunkCounts]]:
    """The acronyms each paper defines, and the phrase counts of the fresh titles, chunk by chunk.

    Read in worker processes when the batch is big, else here.
    """
    texts: list[topic_workers.Teaching] = [
        (pid, text.title, text.abstract if "(" in text.abstract or "(" in text.title else "", pid in fresh)
        for pid, text in papers.items()
    ]
    definitions: dict[int, list[tuple[str, str]]] = {}
    counts: list[ChunkCounts] = []
    done = 0
    processes = topic_workers.workers()
    found = (topic_workers.lessons_in_workers(texts, processes)
             if len(texts) >= topic_workers.AT_LEAST and processes > 1 else topic_workers.lessons_here(texts))
    while True:
        try:
            for size, learnt in found:
                definitions.update(learnt.definitions)
                counts.append(learnt.phrases)
                done += size
            return definitions, counts
        except (OSError, BrokenProcessPool) as exc:  # no processes to be had: go on in this one
            log.warning("reading topics in worker processes failed (%s); going on in this process", exc)
            found = topic_workers.lessons_here(texts[done:])


def _teach(conn: sqlite3.Connection, index: TopicIndex, waiting: list[TopicRow] | None, kind: str, name: str,
           expansion: str | None, *, pending: bool) -> bool:
    """Create an acronym or phrase topic the batch teaches, unless it exists; True if it was created.

    The index takes it at once, so a later paper of the batch defining it again is skipped,
    and so does ``waiting``, the topics older papers are still to be linked to.
    """
    slug = acronym_slug(name) if kind == "acronym" else phrase_slug(name)
    if name in (index.acronyms if kind == "acronym" else index.phrases) or _topic_exists(conn, slug):
        return False
    row = (_create_topic(conn, slug, name, kind, expansion, pending=pending), kind, name, expansion)
    index.take([row])
    if waiting is not None:
        waiting.append(row)
    return True


def rehash_titles(conn: sqlite3.Connection) -> int:
    """Fill papers.title_hash from the stored titles (after migration 0006 replaced title_key)."""
    rows = [(title_hash(title), paper_id) for paper_id, title in conn.execute("SELECT id, title FROM papers")]
    conn.executemany("UPDATE papers SET title_hash = ? WHERE id = ?", rows)
    conn.execute("DELETE FROM meta WHERE key = 'title_hashes_stale'")
    return len(rows)


def _topic_exists(conn: sqlite3.Connection, slug: str) -> bool:
    cur = conn.execute("SELECT 1 FROM topics WHERE slug = ?", (slug,))
    return cur.fetchone() is not None


def _create_topic(
    conn: sqlite3.Connection, slug: str, name: str, kind: str, expansion: str | None, *, pending: bool = False
) -> int:
    cur = conn.execute(
        "INSERT INTO topics (slug, name, kind, expansion, link_pending) VALUES (?, ?, ?, ?, ?)",
        (slug, name, kind, expansion, int(pending)),
    )
    return int(cur.lastrowid or 0)


@dataclass(slots=True)
class Mentions:
    """Papers the search index finds naming some pending topics' spellings, and where the index stood.

    Found off the write lock (Tantivy releases the GIL), so the store can look for one
    batch's papers while the batch before it is linked.
    """

    topics: list[TopicRow]
    paper_ids: list[int]
    seen: int  # the index had seen the change log up to here: later changes are read from the store
    # What a helper process found in the candidates' texts as it read them (storage/topic_mentions.py).
    confirmed: Confirmed | None = None

    @property
    def spellings(self) -> dict[str, list[int]]:
        return _spellings(self.topics)


def pending_topics(conn: sqlite3.Connection, limit: int | None = None) -> list[TopicRow]:
    """Recently learnt topics not yet linked to older papers, oldest first."""
    sql = "SELECT id, kind, name, expansion FROM topics WHERE link_pending = 1 ORDER BY id"
    rows = conn.execute(sql + " LIMIT ?", (limit,)) if limit is not None else conn.execute(sql)
    return [(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]


def _spellings(topics: Iterable[TopicRow]) -> dict[str, list[int]]:
    spellings: dict[str, list[int]] = {}  # a spelling may belong to more than one pending topic
    for topic_id, kind, name, expansion in topics:
        for spelling in [name] + ([expansion] if kind == "acronym" and expansion else []):
            spellings.setdefault(spelling, []).append(topic_id)
    return spellings


def find_mentions(search: SearchIndex, topics: list[TopicRow], also: Iterable[int] = ()) -> Mentions:
    """The index's candidates for ``topics``, and the papers ``also`` (no SQL: safe on any thread)."""
    # Read before the search: a change the index takes in between is then read twice, never missed.
    seen = search.seen_version()
    found = search.ids_mentioning(list(_spellings(topics)))
    return Mentions(topics, sorted({*found, *also}) if also else found, seen)


def link_mentions(conn: sqlite3.Connection, found: Mentions) -> int:
    """Link the found topics still pending to every paper naming them; returns how many were finished.

    Runs in its own short transaction after an ingest. Candidates are the index's,
    plus the papers changed after the index's position when it was searched (read
    straight from the store), so a lagging index never loses a link.
    """
    if not found.topics:
        return 0
    ids = [t[0] for t in found.topics]
    still: set[int] = set()
    for chunk in _chunks(ids):
        still.update(int(r[0]) for r in conn.execute(
            f"SELECT id FROM topics WHERE link_pending = 1 AND id IN ({','.join('?' * len(chunk))})", chunk))
    topics = [t for t in found.topics if t[0] in still]  # another writer may have finished some
    if not topics:
        return 0
    unindexed = [
        int(r[0]) for r in conn.execute("SELECT DISTINCT paper_id FROM search_log WHERE seq > ?", (found.seen,))
    ]
    # The helper matched with every one of these topics' spellings: its answers hold only then.
    confirmed = found.confirmed if len(topics) == len(found.topics) else None
    linked = _link_everywhere(conn, _spellings(topics), [*found.paper_ids, *unindexed], confirmed)
    conn.executemany("UPDATE topics SET link_pending = 0 WHERE id = ?", [(t[0],) for t in topics])
    if linked:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
        topic_links.fold_recent(conn)
    return len(topics)


def link_pending_topics(conn: sqlite3.Connection, limit: int, search: SearchIndex) -> int:
    """Link up to ``limit`` recently learnt topics to every stored paper naming them, in one go.

    Returns how many topics it finished (0 when none are left).
    """
    topics = pending_topics(conn, limit)
    return link_mentions(conn, find_mentions(search, topics)) if topics else 0


def _link_everywhere(conn: sqlite3.Connection, spellings: dict[str, list[int]], candidates: list[int],
                     confirmed: Confirmed | None = None) -> int:
    """Link new topics to every stored paper whose title or abstract names one of their spellings.

    All the topics of one call share one index query and one read of each candidate's
    text: at a million papers, a query and a read per topic cost a second and a half
    for the few hundred topics a thousand new papers teach. A paper whose text is the
    one a helper process already matched (``confirmed``, by digest) is not matched again.
    """
    matcher = Matcher(spellings)
    known = confirmed or {}
    links: list[tuple[int, int]] = []
    matched_here = 0
    for paper_id, title, abstract in paper_texts(conn, candidates):
        answer = known.get(paper_id)
        if answer is not None and answer[0] == text_digest(title, abstract):
            links.extend((paper_id, topic_id) for topic_id in answer[1])
        else:
            # The index stems and folds case; the matcher keeps only exact mentions.
            links.extend((paper_id, topic_id) for topic_id in matcher.topics(title, abstract))
            matched_here += 1
    if confirmed is not None:
        log.debug("new topics' older papers: %d answers from the helper process, %d texts matched here",
                  len(known), matched_here)
    return topic_links.add(conn, links)


def link_topics(
    conn: sqlite3.Connection,
    papers: dict[int, PaperText],
    index: TopicIndex,
    fresh: set[int],
    *,
    by_topic: bool = True,
) -> None:
    """Link each paper to the topics its text names and to its category, afresh.

    Every link written is new: a paper not ``fresh`` loses its links first.
    """
    category_ids = {slug: topic_id for topic_id, slug in conn.execute(CATEGORIES)}
    # The category link is recomputed below with the rest.
    conn.executemany("DELETE FROM paper_topics WHERE paper_id = ?", [(pid,) for pid in papers if pid not in fresh])
    texts = [(pid, text.title, text.abstract, category_ids.get(text.category.lower(), 0) if text.category else 0)
             for pid in sorted(papers) for text in (papers[pid],)]
    _check_packable(conn, texts)
    done = 0
    processes = topic_workers.workers()
    found = (topic_workers.links_in_workers(index, texts, processes)
             if len(texts) >= topic_workers.AT_LEAST and processes > 1 else topic_workers.links_here(index, texts))
    while True:
        try:
            for size, packed in found:
                topic_links.add_packed(conn, packed, by_topic=by_topic)
                done += size
            break
        except (OSError, BrokenProcessPool) as exc:  # no processes to be had: go on in this one
            log.warning("matching topics in worker processes failed (%s); going on in this process", exc)
            found = topic_workers.links_here(index, texts[done:])


def _check_packable(conn: sqlite3.Connection, texts: list[topic_workers.Linked]) -> None:
    """Refuse ids a packed link cannot hold (storage/topic_links.py), before anything is matched."""
    top_paper = texts[-1][0] if texts else 0
    top_topic = conn.execute("SELECT coalesce(max(id), 0) FROM topics").fetchone()[0]
    if not topic_links.packable(top_paper, top_topic):
        raise StoreError(f"paper id {top_paper} or topic id {top_topic} is beyond what topics are linked by;"
                         " copy the library into a new store with `paperboy export` and `paperboy ingest`,"
                         " which numbers them afresh")
