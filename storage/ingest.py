"""Storing a batch of records in one transaction: match, merge, authors, topics, outbox."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from storage.announce_queue import delivery_nonce, queue_deliveries
from storage.db import iso, utcnow
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
from storage.models import IngestReport, PaperRecord, ParseProblem
from storage.subscriptions import DEFAULT_MAX_AGE
from storage.text import author_key, clean_space, surname, title_key
from storage.topics import (
    TopicIndex,
    acronym_slug,
    find_definitions,
    min_phrase_papers,
    phrase_slug,
    title_phrases,
)

log = logging.getLogger(__name__)

__all__ = ["delivery_nonce", "ingest", "link_pending_topics", "upsert_source", "validate"]

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
    had_papers: bool = False  # papers stored before this batch need new topics linked later
    max_age: timedelta | None = DEFAULT_MAX_AGE  # [announce] max_age: older papers are not announced


def upsert_source(
    conn: sqlite3.Connection, name: str, kind: str, location: str | None, owner: str | None
) -> int:
    conn.execute(
        "INSERT INTO sources (name, kind, location, owner) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
        " location = COALESCE(excluded.location, sources.location),"
        " owner = COALESCE(excluded.owner, sources.owner)",
        (name, kind, location, owner),
    )
    cur = conn.execute("SELECT id FROM sources WHERE name = ?", (name,))
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


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
) -> tuple[IngestReport, bool]:
    """Store records inside the caller's transaction; returns the report and whether topics grew."""
    source_id = upsert_source(conn, source, kind, location, owner)
    batch = _Batch(source_id=source_id, kind=kind, now=iso(utcnow()), max_age=max_age)
    batch.had_papers = conn.execute("SELECT EXISTS (SELECT 1 FROM papers)").fetchone()[0] == 1
    for done, record in enumerate(records, 1):
        if progress is not None and done % 500 == 0:
            progress(done)
        problem = validate(record)
        if problem is not None:
            batch.skipped.append(ParseProblem(problem.line, problem.field, problem.message, source))
            continue
        conn.execute("SAVEPOINT record")
        try:
            _store_record(conn, batch, record)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO record")
            batch.author_ids.clear()  # ids handed out inside the rolled-back record are gone
            log.warning("skipped %s line %s: %s", source, record.line, exc)
            batch.skipped.append(ParseProblem(record.line or 0, "record", str(exc), source))
        conn.execute("RELEASE record")
    grew = False
    if batch.new_ids or batch.changed_ids:
        grew = _learn_topics(conn, batch, topic_index)
        _link_topics(conn, batch.new_ids + batch.changed_ids, topic_index, set(batch.new_ids))
        queued = queue_deliveries(conn, batch.new_ids, now=batch.now, max_age=batch.max_age)
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'"
        )
    else:
        queued = 0
    report = IngestReport(
        new=len(batch.new_ids),
        updated=len(batch.changed_ids),
        unchanged=batch.unchanged,
        skipped=batch.skipped,
        new_keys=batch.new_keys,
        queued_deliveries=queued,
    )
    return report, grew


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
    tkey = title_key(record.title)
    cur = conn.execute(
        "SELECT id, published, (SELECT name FROM paper_authors pa WHERE pa.paper_id = p.id"
        " AND pa.inferred = 0 ORDER BY position LIMIT 1) FROM papers p WHERE title_key = ?",
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


def _store_record(conn: sqlite3.Connection, batch: _Batch, record: PaperRecord) -> None:
    rec_json = record_to_json(record)
    rec_hash = record_hash(rec_json)
    paper_id = _find_existing(conn, record)
    if paper_id is None:
        _insert_paper(conn, batch, record, rec_json, rec_hash)
        return
    cur = conn.execute(
        "SELECT record_hash FROM paper_sources WHERE paper_id = ? AND source_id = ?",
        (paper_id, batch.source_id),
    )
    row = cur.fetchone()
    if row is not None and row[0] == rec_hash:
        batch.unchanged += 1
        return
    conn.execute(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (paper_id, source_id) DO UPDATE SET"
        " record = excluded.record, record_hash = excluded.record_hash,"
        " updated_at = excluded.updated_at",
        (paper_id, batch.source_id, pack(rec_json), rec_hash, batch.now, batch.now),
    )
    if _remerge(conn, batch, paper_id):
        if paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
            batch.changed_ids.append(paper_id)
    elif paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
        batch.unchanged += 1


def _unique_key(conn: sqlite3.Connection, key: str) -> str:
    candidate, n = key, 1
    while True:
        cur = conn.execute(
            "SELECT 1 FROM papers WHERE key = ? UNION ALL SELECT 1 FROM paper_aliases"
            " WHERE alias = ?",
            (candidate, candidate),
        )
        if cur.fetchone() is None:
            return candidate
        n += 1
        candidate = f"{key}-{n}"


def _insert_paper(
    conn: sqlite3.Connection, batch: _Batch, record: PaperRecord, rec_json: str, rec_hash: str
) -> None:
    key = _unique_key(conn, record.key or paper_key(record))
    merged = merge([Reported(batch.kind, batch.now, record)])
    first_seen = iso(record.first_seen_at) if record.first_seen_at else batch.now
    # The whole row in one INSERT: the search index trigger then writes it once.
    cur = conn.execute(
        "INSERT INTO papers (key, title, title_key, authors_truncated, abstract, category, categories,"
        " published, has_code, code_url, arxiv_id, arxiv_version, doi, links, comment, journal_ref,"
        " first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, merged.title, title_key(merged.title), *_merged_columns(merged)[1:], first_seen, batch.now),
    )
    paper_id = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (paper_id, batch.source_id, pack(rec_json), rec_hash, batch.now, batch.now),
    )
    _write_authors(conn, paper_id, merged, batch.author_ids)
    _write_aliases(conn, paper_id, merged)
    if merged.authors_truncated:
        _write_inferred(conn, paper_id, merged, batch.author_ids)
    batch.new_ids.append(paper_id)
    batch.new_keys.append(key)


def _merged_columns(merged: PaperRecord) -> tuple:
    """The papers-table columns a merged record fills, title first, in schema order."""
    return (
        merged.title,
        int(merged.authors_truncated),
        merged.abstract,
        merged.category,
        json.dumps(list(merged.categories)),
        merged.published.isoformat() if merged.published else None,
        int(merged.has_code),
        merged.code_url,
        merged.arxiv_id,
        merged.arxiv_version,
        merged.doi,
        json.dumps([[lk.href, lk.rel, lk.type, lk.title] for lk in merged.links]),
        merged.comment,
        merged.journal_ref,
    )


def _write_aliases(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord) -> None:
    for alias, kind in ((merged.arxiv_id, "arxiv"), (merged.doi, "doi")):
        if alias:
            conn.execute(
                "INSERT OR IGNORE INTO paper_aliases (alias, kind, paper_id) VALUES (?, ?, ?)",
                (alias, kind, paper_id),
            )


def _remerge(conn: sqlite3.Connection, batch: _Batch, paper_id: int) -> bool:
    """Recompute the paper from all its sources; True if anything visible changed."""
    cur = conn.execute(
        "SELECT s.kind, ps.updated_at, ps.record FROM paper_sources ps"
        " JOIN sources s ON s.id = ps.source_id WHERE ps.paper_id = ?",
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
    after = _merged_columns(merged)
    changed = before != after or before_authors != [clean_space(n) for n in merged.authors]
    if changed:
        conn.execute(
            "UPDATE papers SET title = ?, authors_truncated = ?, abstract = ?, category = ?,"
            " categories = ?, published = ?, has_code = ?, code_url = ?, arxiv_id = ?,"
            " arxiv_version = ?, doi = ?, links = ?, comment = ?, journal_ref = ?,"
            " title_key = ?, updated_at = ? WHERE id = ?",
            (*after, title_key(merged.title), batch.now, paper_id),
        )
        _write_authors(conn, paper_id, merged, batch.author_ids)
        _write_aliases(conn, paper_id, merged)
    _write_inferred(conn, paper_id, merged, batch.author_ids)
    return changed


def _author_id(conn: sqlite3.Connection, name: str, cache: dict[str, int]) -> int:
    key = author_key(name) or clean_space(name).lower()
    found = cache.get(key)
    if found is not None:
        return found
    row = conn.execute("SELECT id FROM authors WHERE key = ?", (key,)).fetchone()
    if row is None:
        row = (conn.execute("INSERT INTO authors (key, name) VALUES (?, ?)", (key, name)).lastrowid,)
    cache[key] = int(row[0])
    return cache[key]


def _write_authors(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord, cache: dict[str, int]) -> None:
    conn.execute("DELETE FROM paper_authors WHERE paper_id = ?", (paper_id,))
    for position, name in enumerate(merged.authors):
        name = clean_space(name)
        conn.execute(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)",
            (paper_id, position, _author_id(conn, name, cache), name),
        )


_INFERRED_BASE = 100_000  # positions of inferred owners sort after every listed author


def _write_inferred(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord, cache: dict[str, int]) -> None:
    """Link each source owner that a truncated author list hides; unlink once it shows them."""
    conn.execute(
        "DELETE FROM paper_authors WHERE paper_id = ? AND inferred = 1", (paper_id,)
    )
    if not merged.authors_truncated:
        return
    cur = conn.execute(
        "SELECT DISTINCT s.owner FROM paper_sources ps JOIN sources s ON s.id = ps.source_id"
        " WHERE ps.paper_id = ? AND s.owner IS NOT NULL",
        (paper_id,),
    )
    owners = sorted({row[0] for row in cur.fetchall()} | set(merged.inferred_authors))
    seen = {author_key(name) for name in merged.authors}
    for offset, owner in enumerate(owners):
        if author_key(owner) in seen:
            continue
        seen.add(author_key(owner))
        conn.execute(
            "INSERT INTO paper_authors (paper_id, position, author_id, name, inferred)"
            " VALUES (?, ?, ?, ?, 1)",
            (paper_id, _INFERRED_BASE + offset, _author_id(conn, owner, cache), owner),
        )


def _rows(conn: sqlite3.Connection, ids: list[int], columns: str) -> Iterator[tuple]:
    """Papers by id, in chunks that stay under SQLite's bound-variable limit."""
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(f"SELECT {columns} FROM papers WHERE id IN ({marks})", chunk)


def _learn_topics(conn: sqlite3.Connection, batch: _Batch, index: TopicIndex) -> bool:
    """Create topics that this batch teaches; link every stored paper that mentions them."""
    grew = False
    new_set = set(batch.new_ids)
    phrases: Counter[str] = Counter()
    for paper_id, title, abstract, category in _rows(
        conn, batch.new_ids + batch.changed_ids, "id, title, abstract, category"
    ):
        for definition in find_definitions(f"{title}. {abstract}"):
            slug = acronym_slug(definition.acronym)
            if definition.acronym in index.acronyms or _topic_exists(conn, slug):
                continue
            topic_id = _create_topic(
                conn, slug, definition.acronym, "acronym", definition.phrase, pending=batch.had_papers
            )
            index.acronyms[definition.acronym] = topic_id
            index.phrases.setdefault(definition.phrase, topic_id)
            grew = True
        if category and not _topic_exists(conn, category.lower()):
            _create_topic(conn, category.lower(), category, "category", None)
            grew = True
        if paper_id in new_set:
            phrases.update(title_phrases(title))
    conn.executemany(
        "INSERT INTO phrase_counts (phrase, papers) VALUES (?, ?)"
        " ON CONFLICT (phrase) DO UPDATE SET papers = papers + excluded.papers",
        phrases.items(),
    )
    # Only phrases this batch counted can have just become common enough.
    candidates = list(phrases)
    ripe: list[str] = []
    for start in range(0, len(candidates), 500):
        chunk = candidates[start : start + 500]
        ripe += [
            row[0]
            for row in conn.execute(
                f"SELECT phrase FROM phrase_counts WHERE phrase IN ({','.join('?' * len(chunk))})"
                " AND papers >= ?",
                (*chunk, min_phrase_papers()),
            )
        ]
    for phrase in ripe:
        slug = phrase_slug(phrase)
        if phrase in index.phrases or _topic_exists(conn, slug):
            continue
        topic_id = _create_topic(conn, slug, phrase, "phrase", None, pending=batch.had_papers)
        index.phrases[phrase] = topic_id
        grew = True
    return grew


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


def link_pending_topics(conn: sqlite3.Connection, limit: int) -> int:
    """Link up to ``limit`` recently learnt topics to every stored paper naming them.

    Runs in its own short transaction after an ingest; returns how many topics
    it finished (0 when none are left).
    """
    rows = conn.execute(
        "SELECT id, kind, name, expansion FROM topics WHERE link_pending = 1 ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    linked = 0
    for topic_id, kind, name, expansion in rows:
        spellings = [name] + ([expansion] if kind == "acronym" and expansion else [])
        linked += _link_everywhere(conn, topic_id, spellings)
        conn.execute("UPDATE topics SET link_pending = 0 WHERE id = ?", (topic_id,))
    if linked:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
    return len(rows)


def _link_everywhere(conn: sqlite3.Connection, topic_id: int, spellings: list[str]) -> int:
    """Link a new topic to every stored paper whose title or abstract names it."""
    query = " OR ".join(
        '"' + " ".join(spelling.replace('"', '""').split()) + '"' for spelling in spellings
    )
    index = TopicIndex(phrases={}, acronyms={})
    for spelling in spellings:
        if any(c.isupper() for c in spelling):
            index.acronyms[spelling] = topic_id
        else:
            index.phrases[spelling] = topic_id
    cur = conn.execute(
        "SELECT p.id, p.title, p.abstract FROM papers_fts JOIN papers p ON p.id = papers_fts.rowid"
        " WHERE papers_fts MATCH ?",
        (query,),
    )
    rows = list(cur.fetchall())
    # FTS stems and folds case; the index check keeps only exact mentions.
    added = 0
    for paper_id, title, abstract in rows:
        if index.topics_for(f"{title}. {abstract}"):
            added += conn.execute(
                "INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)",
                (paper_id, topic_id),
            ).rowcount
    return added


def _link_topics(conn: sqlite3.Connection, paper_ids: list[int], index: TopicIndex, fresh: set[int]) -> None:
    """Link each paper to the topics its text names and to its category, afresh."""
    category_ids = {
        slug: topic_id for topic_id, slug in conn.execute("SELECT id, slug FROM topics WHERE kind = 'category'")
    }
    for paper_id, title, abstract, category in list(_rows(conn, paper_ids, "id, title, abstract, category")):
        if paper_id not in fresh:
            # The category link is recomputed below with the rest.
            conn.execute("DELETE FROM paper_topics WHERE paper_id = ?", (paper_id,))
        topic_ids = index.topics_for(f"{title}. {abstract}")
        if category and category.lower() in category_ids:
            topic_ids.add(category_ids[category.lower()])
        conn.executemany(
            "INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)",
            [(paper_id, tid) for tid in topic_ids],
        )
