"""Storing a batch of records in one transaction: match, merge, authors, topics, outbox."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from storage import ingest_batch as bulk
from storage import paper_writes as writes
from storage import search_log, sources_repo, topic_links
from storage.announce_queue import delivery_nonce, queue_deliveries
from storage.db import file_error_in, iso, utcnow
from storage.index_feed import IndexFeed
from storage.ingest_topics import OnPending, PaperText, catch_up, learn_and_link
from storage.merge import (
    Reported,
    find_preprint,
    merge,
    normalise_doi,
    pack,
    paper_key,
    record_from_json,
    record_hash,
    record_to_json,
)
from storage.models import INGEST_STEPS, IngestReport, PaperRecord, ParseProblem
from storage.subscriptions import DEFAULT_MAX_AGE
from storage.text import clean_space, key_hash, surname, title_hash
from storage.topics import TopicIndex

log = logging.getLogger(__name__)

__all__ = ["delivery_nonce", "ingest", "validate"]

SOURCE_KINDS = ("listing", "arxiv", "feed", "bibtex")


@dataclass(slots=True)
class _Batch:
    source_id: int
    kind: str
    now: str
    new_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[ParseProblem] = field(default_factory=list)
    author_ids: dict[str, int] = field(default_factory=dict)
    owner: str | None = None  # the source's owner, whom a truncated author list implies
    had_papers: bool = False  # papers stored before this batch need new topics linked later
    max_age: timedelta | None = DEFAULT_MAX_AGE  # [announce] max_age: older papers are not announced
    # The stored title, abstract and category of each new or changed paper, for its topics;
    # undo holds (paper id, text before) so a rolled-back savepoint takes its texts back too.
    texts: dict[int, PaperText] = field(default_factory=dict)
    undo: list[tuple[int, PaperText | None]] = field(default_factory=list)

    def set_text(self, paper_id: int, merged: PaperRecord) -> None:
        self.undo.append((paper_id, self.texts.get(paper_id)))
        self.texts[paper_id] = PaperText(merged.title, merged.abstract, merged.category)

    def undo_texts(self, mark: int) -> None:
        while len(self.undo) > mark:
            paper_id, before = self.undo.pop()
            if before is None:
                self.texts.pop(paper_id, None)
            else:
                self.texts[paper_id] = before


def validate(record: PaperRecord) -> ParseProblem | None:
    """A record the store refuses, with the field at fault."""
    line = record.line or 0
    if not clean_space(record.title):
        return ParseProblem(line, "title", "the title is empty")
    if any(not clean_space(name) for name in record.authors):
        return ParseProblem(line, "authors", "an author name is empty")
    if not record.authors and not record.authors_truncated:
        return ParseProblem(line, "authors", "the paper lists no authors")
    return None


def ingest(
    conn: sqlite3.Connection,
    records: Iterable[PaperRecord],
    *,
    source: str,
    kind: str,
    location: str | None,
    owner: str | None,
    topic_index: TopicIndex,
    progress: Callable[[int], None] | None = None,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
    on_pending: OnPending | None = None,
    size_hint: int | None = None,
    feed: IndexFeed | None = None,
) -> tuple[IngestReport, bool]:
    """Store records inside the caller's transaction; returns the report and whether topics grew.

    Records are stored a chunk at a time with set-based statements (storage/ingest_batch.py);
    a chunk that hits a database error is stored again one record at a time, so only the
    record at fault is skipped. A big load into an empty store is indexed while its topics
    are learnt, by ``feed``'s process (storage/index_feed.py); the caller commits that after.
    """
    clock = time.perf_counter
    began = clock()
    seconds = dict.fromkeys(INGEST_STEPS, 0.0)  # the last two are Store.ingest's to fill
    source_id = sources_repo.upsert_source(conn, source, kind, location, owner)
    batch = _Batch(source_id=source_id, kind=kind, now=iso(utcnow()), max_age=max_age)
    batch.owner = conn.execute("SELECT owner FROM sources WHERE id = ?", (source_id,)).fetchone()[0]
    batch.had_papers = conn.execute("SELECT EXISTS (SELECT 1 FROM papers)").fetchone()[0] == 1
    caught_up = clock()
    catch_up(conn, topic_index)
    seconds["topics"] = clock() - caught_up
    if isinstance(records, list | tuple):
        size_hint = len(records)
    elif size_hint is None:
        records = list(records)
        size_hint = len(records)
    # Records that are not a list are read as they come (``size_hint`` says about how many).
    rebuilt = bulk.drop_bulk_indexes(conn, size_hint)
    if feed is not None and not (feed.wanted(size_hint, batch.had_papers) and feed.start()):
        feed = None
    chunk: list[PaperRecord] = []
    done = 0

    def store(chunk: list[PaperRecord]) -> None:
        storing = clock()
        _store_chunk(conn, batch, chunk, source)
        seconds["papers"] += clock() - storing

    reading = clock()
    for done, record in enumerate(records, 1):
        problem = validate(record)
        if problem is not None:
            batch.skipped.append(ParseProblem(problem.line, problem.field, problem.message, source))
        else:
            chunk.append(record)
        if len(chunk) >= CHUNK:
            store(chunk)
            chunk = []
        if progress is not None and done % 500 == 0:
            progress(done)
    if chunk:
        store(chunk)
    seconds["records"] = clock() - reading - seconds["papers"]
    if progress is not None:
        progress(done)
    grew = False
    if feed is not None:  # an empty store's load: every paper is new, and none changes after this
        feed.send(batch.new_ids, batch.texts)
    if batch.new_ids or batch.changed_ids:
        papers = {pid: batch.texts[pid] for pid in batch.new_ids + batch.changed_ids}
        grew = learn_and_link(conn, papers, set(batch.new_ids), batch.had_papers, topic_index, on_pending, seconds,
                              by_topic=not rebuilt)
        queued = queue_deliveries(conn, batch.new_ids, now=batch.now, max_age=batch.max_age)
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'"
        )
    else:
        queued = 0
    for sql in rebuilt:
        conn.execute(sql)
    topic_links.fold_recent(conn)
    if feed is not None:
        feed.state = search_log.store_state(conn)  # what the index commits once this transaction has
    report = IngestReport(
        new=len(batch.new_ids),
        updated=len(batch.changed_ids),
        unchanged=batch.unchanged,
        skipped=batch.skipped,
        new_keys=batch.new_keys,
        queued_deliveries=queued,
        seconds=seconds,
    )
    seconds["rest"] = max(0.0, clock() - began - sum(seconds.values()))
    return report, grew


# Records stored per set-based round: big enough that per-statement costs vanish, small
# enough that a chunk redone one by one after an error costs little.
CHUNK = 2000


def _store_chunk(conn: sqlite3.Connection, batch: _Batch, records: list[PaperRecord], source: str) -> None:
    mark = (len(batch.new_ids), len(batch.changed_ids), len(batch.new_keys), batch.unchanged)
    batch.undo.clear()
    conn.execute("SAVEPOINT chunk")
    try:
        _store_set(conn, batch, records)
    except sqlite3.Error as exc:
        if file_error_in(exc) is not None:
            raise  # a full disk or a lost lock is no record's fault: the whole batch stops
        conn.execute("ROLLBACK TO chunk")
        conn.execute("RELEASE chunk")
        del batch.new_ids[mark[0]:], batch.changed_ids[mark[1]:], batch.new_keys[mark[2]:]
        batch.unchanged = mark[3]
        batch.undo_texts(0)
        batch.author_ids.clear()  # ids handed out inside the rolled-back chunk are gone
        log.info("storing %d records of %s together failed (%s); storing them one by one", len(records), source, exc)
        for record in records:
            _store_one(conn, batch, record, source)
        return
    conn.execute("RELEASE chunk")


def _store_one(conn: sqlite3.Connection, batch: _Batch, record: PaperRecord, source: str) -> None:
    conn.execute("SAVEPOINT record")
    mark = len(batch.undo)
    try:
        _store_record(conn, batch, record)
    except sqlite3.Error as exc:
        if file_error_in(exc) is not None:
            raise
        conn.execute("ROLLBACK TO record")
        batch.undo_texts(mark)
        batch.author_ids.clear()  # ids handed out inside the rolled-back record are gone
        log.warning("skipped %s line %s: %s", source, record.line, exc)
        batch.skipped.append(ParseProblem(record.line or 0, "record", str(exc), source))
    conn.execute("RELEASE record")


@dataclass(slots=True)
class _Prepared:
    record: PaperRecord
    rec_json: str
    rec_hash: bytes
    aliases: tuple[str, ...]
    tkey: int  # storage.text.title_hash


def _prepare(record: PaperRecord) -> _Prepared:
    rec_json = record_to_json(record)
    aliases = tuple(a for a in (record.arxiv_id, normalise_doi(record.doi)) if a)
    return _Prepared(record, rec_json, record_hash(rec_json), aliases, title_hash(record.title))


def _store_set(conn: sqlite3.Connection, batch: _Batch, records: list[PaperRecord]) -> None:
    """Store records in order, as one-by-one storing would, but a run of independent ones at a time.

    A record that may name a paper stored earlier in the same run (same alias or title key),
    or that may be a published version joining its preprint, ends the run and is stored alone.
    """
    run: list[_Prepared] = []
    aliases: set[str] = set()
    tkeys: set[int] = set()
    for record in records:
        item = _prepare(record)
        alone = bool(record.doi and not record.arxiv_id and record.authors)
        if alone or item.tkey in tkeys or any(a in aliases for a in item.aliases):
            _store_run(conn, batch, run)
            run, aliases, tkeys = [], set(), set()
            if alone:
                _store_record(conn, batch, record, item)
                continue
        run.append(item)
        aliases.update(item.aliases)
        tkeys.add(item.tkey)
    _store_run(conn, batch, run)


def _store_run(conn: sqlite3.Connection, batch: _Batch, run: list[_Prepared]) -> None:
    """Records that cannot name each other: match all at once, then update or insert."""
    if not run:
        return
    by_alias = bulk.alias_matches(conn, [a for item in run for a in item.aliases])
    by_title = bulk.title_matches(conn, [item.tkey for item in run])
    matched: list[tuple[_Prepared, int]] = []
    fresh: list[_Prepared] = []
    for item in run:
        paper_id = _match(item, by_alias, by_title)
        if paper_id is None:
            fresh.append(item)
        else:
            matched.append((item, paper_id))
    if matched:
        hashes = bulk.source_hashes(conn, batch.source_id, [pid for _, pid in matched])
        seen: set[int] = set()
        for item, paper_id in matched:
            if paper_id in seen:  # a second report of one paper in the run: read what the first wrote
                _update_existing(conn, batch, paper_id, item)
                continue
            seen.add(paper_id)
            if hashes.get(paper_id) == item.rec_hash:
                batch.unchanged += 1
            else:
                _update_existing(conn, batch, paper_id, item, known=hashes.get(paper_id, _UNKNOWN))
    if fresh:
        _insert_papers(conn, batch, fresh)


def _match(
    item: _Prepared, by_alias: dict[str, int], by_title: dict[int, list[tuple[int, str | None, str | None]]]
) -> int | None:
    """_find_existing's rules on look-ups made for the whole run (no preprint search: see _store_set)."""
    for alias in item.aliases:
        if alias in by_alias:
            return by_alias[alias]
    record = item.record
    for paper_id, published, first_author in by_title.get(item.tkey, ()):
        if record.authors and first_author and surname(record.authors[0]) != surname(first_author):
            continue
        if record.published and published:
            if abs(record.published.year - int(published[:4])) > 1:
                continue
        return paper_id
    return None


def _find_existing(conn: sqlite3.Connection, record: PaperRecord) -> int | None:
    """The paper this record reports: by arXiv id, then DOI, then title + first author + year."""
    for alias in (record.arxiv_id, normalise_doi(record.doi)):
        if alias:
            cur = conn.execute(
                "SELECT paper_id FROM paper_aliases WHERE alias = ?", (alias,)
            )
            row = cur.fetchone()
            if row:
                return int(row[0])
    tkey = title_hash(record.title)
    cur = conn.execute(
        "SELECT id, published, (SELECT name FROM paper_authors pa WHERE pa.paper_id = p.id"
        " AND pa.inferred = 0 ORDER BY position LIMIT 1) FROM papers p WHERE title_hash = ?",
        (tkey,),
    )
    candidates = list(cur.fetchall())
    for paper_id, published, first_author in candidates:
        if record.authors and first_author and surname(record.authors[0]) != surname(first_author):
            continue
        if record.published and published:
            if abs(record.published.year - int(published[:4])) > 1:
                continue
        return int(paper_id)
    if record.doi and not record.arxiv_id and record.authors:
        return find_preprint(conn, record)
    return None


def _store_record(conn: sqlite3.Connection, batch: _Batch, record: PaperRecord, item: _Prepared | None = None) -> None:
    item = item or _prepare(record)
    paper_id = _find_existing(conn, record)
    if paper_id is None:
        _insert_papers(conn, batch, [item])
    else:
        _update_existing(conn, batch, paper_id, item)


_UNKNOWN = "?"  # no record hash read yet: look it up


def _update_existing(
    conn: sqlite3.Connection, batch: _Batch, paper_id: int, item: _Prepared, known: bytes | str | None = _UNKNOWN
) -> None:
    """A source reports a stored paper: keep its record and re-merge if it says something new."""
    if known == _UNKNOWN:
        row = conn.execute(
            "SELECT record_hash FROM paper_sources WHERE paper_id = ? AND source_id = ?",
            (paper_id, batch.source_id),
        ).fetchone()
        known = row[0] if row is not None else None
    if known == item.rec_hash:
        batch.unchanged += 1
        return
    # The paper's row is about to change: records kept as "same as the paper" are spelt out first.
    writes.spell_out_records(conn, paper_id)
    conn.execute(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (paper_id, source_id) DO UPDATE SET"
        " record = excluded.record, record_hash = excluded.record_hash,"
        " updated_at = excluded.updated_at",
        (paper_id, batch.source_id, pack(item.rec_json), item.rec_hash, batch.now, batch.now),
    )
    if _remerge(conn, batch, paper_id):
        if paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
            batch.changed_ids.append(paper_id)
    elif paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
        batch.unchanged += 1


def _unique_key(conn: sqlite3.Connection, key: str, used: set[str] | None = None) -> str:
    candidate, n = key, 1
    while True:
        if used and candidate in used:
            n += 1
            candidate = f"{key}-{n}"
            continue
        cur = conn.execute(
            "SELECT 1 FROM papers WHERE key_hash = ? AND key = ? UNION ALL SELECT 1 FROM paper_aliases"
            " WHERE alias = ?",
            (key_hash(candidate), candidate, candidate),
        )
        if cur.fetchone() is None:
            return candidate
        n += 1
        candidate = f"{key}-{n}"


def _insert_papers(conn: sqlite3.Connection, batch: _Batch, items: list[_Prepared]) -> None:
    """New papers, each from this one record: one executemany per table for them all."""
    merged = [merge([Reported(batch.kind, batch.now, item.record)]) for item in items]
    wanted = [item.record.key or paper_key(item.record) for item in items]
    taken = bulk.taken_keys(conn, wanted) if len(items) > 1 else set()
    used: set[str] = set()
    keys: list[str] = []
    for key in wanted:
        if len(items) == 1 or key in taken or key in used:
            key = _unique_key(conn, key, used)
        used.add(key)
        keys.append(key)
    first_id = bulk.next_paper_id(conn)
    ids = list(range(first_id, first_id + len(items)))
    authors: list[list[tuple[int, str, int]]] = []  # per paper: (position, name, inferred)
    for m in merged:
        names = [(pos, clean_space(name), 0) for pos, name in enumerate(m.authors)]
        if m.authors_truncated:
            names += writes.inferred_names(m, {batch.owner} if batch.owner else set())
        authors.append(names)
    bulk.resolve_authors(conn, (name for names in authors for _, name, _ in names), batch.author_ids)
    # The whole row in one INSERT, and one search log row each (no trigger: migration 0014).
    # updated_at stays NULL (read as first_seen_at) unless the record brought an older sighting.
    rows = [
        (pid, key, key_hash(key), m.title, item.tkey if m.title == item.record.title else title_hash(m.title),
         *bulk.merged_columns(m)[1:],
         *((iso(item.record.first_seen_at), batch.now) if item.record.first_seen_at else (batch.now, None)))
        for pid, key, m, item in zip(ids, keys, merged, items, strict=True)
    ]
    conn.executemany(
        "INSERT INTO papers (id, key, key_hash, title, title_hash, authors_truncated, abstract, category,"
        " categories, published, has_code, code_url, arxiv_id, arxiv_version, doi, links, comment, journal_ref,"
        " first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    search_log.log_inserts(conn, ids)
    # The source's times are the paper's own (NULL) unless the record brought its first sighting.
    conn.executemany(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, NULL)",
        (
            (pid, batch.source_id, writes.kept_record(item, m), item.rec_hash,
             None if item.record.first_seen_at is None else batch.now)
            for pid, m, item in zip(ids, merged, items, strict=True)
        ),
    )
    conn.executemany(
        "INSERT INTO paper_authors (paper_id, position, author_id, name, inferred) VALUES (?, ?, ?, ?, ?)",
        (
            (pid, pos, batch.author_ids[bulk.author_cache_key(name)], name, inferred)
            for pid, names in zip(ids, authors, strict=True)
            for pos, name, inferred in names
        ),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO paper_aliases (alias, kind, paper_id) VALUES (?, ?, ?)",
        (
            (alias, kind, pid)
            for pid, m in zip(ids, merged, strict=True)
            for alias, kind in ((m.arxiv_id, "arxiv"), (m.doi, "doi"))
            if alias
        ),
    )
    batch.new_ids += ids
    batch.new_keys += keys
    for pid, m in zip(ids, merged, strict=True):
        batch.set_text(pid, m)


def _remerge(conn: sqlite3.Connection, batch: _Batch, paper_id: int) -> bool:
    """Recompute the paper from all its sources; True if anything visible changed."""
    cur = conn.execute(
        "SELECT s.kind, COALESCE(ps.updated_at, p.updated_at, p.first_seen_at), ps.record FROM paper_sources ps"
        " JOIN sources s ON s.id = ps.source_id JOIN papers p ON p.id = ps.paper_id WHERE ps.paper_id = ?",
        (paper_id,),
    )
    merged = merge([Reported(k, u, record_from_json(r)) for k, u, r in cur.fetchall()])
    before = tuple(
        conn.execute(
            "SELECT title, authors_truncated, abstract, category, categories, published, has_code,"
            " code_url, arxiv_id, arxiv_version, doi, links, comment, journal_ref FROM papers"
            " WHERE id = ?",
            (paper_id,),
        ).fetchone()
        or ()
    )
    before_authors = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM paper_authors WHERE paper_id = ? AND inferred = 0 ORDER BY position",
            (paper_id,),
        )
    ]
    after = bulk.merged_columns(merged)
    changed = before != after or before_authors != [clean_space(n) for n in merged.authors]
    if changed:
        conn.execute(
            "UPDATE papers SET title = ?, authors_truncated = ?, abstract = ?, category = ?,"
            " categories = ?, published = ?, has_code = ?, code_url = ?, arxiv_id = ?,"
            " arxiv_version = ?, doi = ?, links = ?, comment = ?, journal_ref = ?,"
            " title_hash = ?, updated_at = ? WHERE id = ?",
            (*after, title_hash(merged.title), batch.now, paper_id),
        )
        writes.write_authors(conn, paper_id, merged, batch.author_ids)
        writes.write_aliases(conn, paper_id, merged)
        batch.set_text(paper_id, merged)
    writes.write_inferred(conn, paper_id, merged, batch.author_ids)
    return changed
