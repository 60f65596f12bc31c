"""Storing a batch of records in one transaction: match, merge, authors, topics, outbox."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiosqlite

from storage.db import iso, utcnow
from storage.merge import (
    Reported,
    merge,
    normalise_doi,
    paper_key,
    record_from_json,
    record_hash,
    record_to_json,
)
from storage.models import IngestReport, PaperRecord, ParseProblem
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


async def upsert_source(
    conn: aiosqlite.Connection, name: str, kind: str, location: str | None, owner: str | None
) -> int:
    await conn.execute(
        "INSERT INTO sources (name, kind, location, owner) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
        " location = COALESCE(excluded.location, sources.location),"
        " owner = COALESCE(excluded.owner, sources.owner)",
        (name, kind, location, owner),
    )
    async with conn.execute("SELECT id FROM sources WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
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


async def ingest(
    conn: aiosqlite.Connection,
    records: Iterable[PaperRecord],
    *,
    source: str,
    kind: str,
    location: str | None,
    owner: str | None,
    topic_index: TopicIndex,
    progress: Callable[[int], None] | None = None,
) -> tuple[IngestReport, bool]:
    """Store records inside the caller's transaction; returns the report and whether topics grew."""
    source_id = await upsert_source(conn, source, kind, location, owner)
    batch = _Batch(source_id=source_id, kind=kind, now=iso(utcnow()))
    for done, record in enumerate(records, 1):
        if progress is not None and done % 500 == 0:
            progress(done)
        problem = validate(record)
        if problem is not None:
            batch.skipped.append(ParseProblem(problem.line, problem.field, problem.message, source))
            continue
        await conn.execute("SAVEPOINT record")
        try:
            await _store_record(conn, batch, record)
        except sqlite3.Error as exc:
            await conn.execute("ROLLBACK TO record")
            log.warning("skipped %s line %s: %s", source, record.line, exc)
            batch.skipped.append(ParseProblem(record.line or 0, "record", str(exc), source))
        await conn.execute("RELEASE record")
    grew = False
    if batch.new_ids or batch.changed_ids:
        grew = await _learn_topics(conn, batch, topic_index)
        await _link_topics(conn, batch.new_ids + batch.changed_ids, topic_index)
        queued = await _queue_deliveries(conn, batch)
        await conn.execute(
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


async def _find_existing(conn: aiosqlite.Connection, record: PaperRecord) -> int | None:
    """The paper this record reports: by arXiv id, then DOI, then title + first author + year."""
    for alias in (record.arxiv_id, normalise_doi(record.doi)):
        if alias:
            async with conn.execute(
                "SELECT paper_id FROM paper_aliases WHERE alias = ?", (alias,)
            ) as cur:
                row = await cur.fetchone()
            if row:
                return int(row[0])
    tkey = title_key(record.title)
    async with conn.execute(
        "SELECT id, published, (SELECT name FROM paper_authors pa WHERE pa.paper_id = p.id"
        " AND pa.inferred = 0 ORDER BY position LIMIT 1) FROM papers p WHERE title_key = ?",
        (tkey,),
    ) as cur:
        candidates = list(await cur.fetchall())
    for paper_id, published, first_author in candidates:
        if record.authors and first_author and surname(record.authors[0]) != surname(first_author):
            continue
        if record.published and published:
            if abs(record.published.year - int(published[:4])) > 1:
                continue
        return int(paper_id)
    return None


async def _store_record(conn: aiosqlite.Connection, batch: _Batch, record: PaperRecord) -> None:
    rec_json = record_to_json(record)
    rec_hash = record_hash(rec_json)
    paper_id = await _find_existing(conn, record)
    if paper_id is None:
        await _insert_paper(conn, batch, record, rec_json, rec_hash)
        return
    async with conn.execute(
        "SELECT record_hash FROM paper_sources WHERE paper_id = ? AND source_id = ?",
        (paper_id, batch.source_id),
    ) as cur:
        row = await cur.fetchone()
    if row is not None and row[0] == rec_hash:
        batch.unchanged += 1
        return
    await conn.execute(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (paper_id, source_id) DO UPDATE SET"
        " record = excluded.record, record_hash = excluded.record_hash,"
        " updated_at = excluded.updated_at",
        (paper_id, batch.source_id, rec_json, rec_hash, batch.now, batch.now),
    )
    if await _remerge(conn, paper_id, batch.now):
        if paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
            batch.changed_ids.append(paper_id)
    elif paper_id not in batch.changed_ids and paper_id not in batch.new_ids:
        batch.unchanged += 1


async def _unique_key(conn: aiosqlite.Connection, key: str) -> str:
    candidate, n = key, 1
    while True:
        async with conn.execute(
            "SELECT 1 FROM papers WHERE key = ? UNION ALL SELECT 1 FROM paper_aliases"
            " WHERE alias = ?",
            (candidate, candidate),
        ) as cur:
            if await cur.fetchone() is None:
                return candidate
        n += 1
        candidate = f"{key}-{n}"


async def _insert_paper(
    conn: aiosqlite.Connection, batch: _Batch, record: PaperRecord, rec_json: str, rec_hash: str
) -> None:
    key = await _unique_key(conn, record.key or paper_key(record))
    merged = merge([Reported(batch.kind, batch.now, record)])
    first_seen = iso(record.first_seen_at) if record.first_seen_at else batch.now
    cur = await conn.execute(
        "INSERT INTO papers (key, title, title_key, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (key, merged.title, title_key(merged.title), first_seen, batch.now),
    )
    paper_id = int(cur.lastrowid or 0)
    await conn.execute(
        "INSERT INTO paper_sources (paper_id, source_id, record, record_hash, first_seen_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (paper_id, batch.source_id, rec_json, rec_hash, batch.now, batch.now),
    )
    await _write_merged(conn, paper_id, merged, batch.now, touch=False)
    batch.new_ids.append(paper_id)
    batch.new_keys.append(key)


async def _remerge(conn: aiosqlite.Connection, paper_id: int, now: str) -> bool:
    """Recompute the paper from all its sources; True if anything visible changed."""
    async with conn.execute(
        "SELECT s.kind, ps.updated_at, ps.record FROM paper_sources ps"
        " JOIN sources s ON s.id = ps.source_id WHERE ps.paper_id = ?",
        (paper_id,),
    ) as cur:
        reports = [Reported(k, u, record_from_json(r)) for k, u, r in await cur.fetchall()]
    merged = merge(reports)
    return await _write_merged(conn, paper_id, merged, now, touch=True)


def _fingerprint(merged: PaperRecord) -> str:
    return hashlib.sha256(record_to_json(merged).encode()).hexdigest()


async def _write_merged(
    conn: aiosqlite.Connection, paper_id: int, merged: PaperRecord, now: str, *, touch: bool
) -> bool:
    async with conn.execute(
        "SELECT title, authors_truncated, abstract, category, categories, published, has_code,"
        " code_url, arxiv_id, arxiv_version, doi, links, comment, journal_ref FROM papers"
        " WHERE id = ?",
        (paper_id,),
    ) as cur:
        before = tuple(await cur.fetchone() or ())
    async with conn.execute(
        "SELECT name FROM paper_authors WHERE paper_id = ? AND inferred = 0 ORDER BY position",
        (paper_id,),
    ) as cur:
        before_authors = [row[0] for row in await cur.fetchall()]
    after = (
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
    changed = before != after or before_authors != list(merged.authors)
    if changed:
        await conn.execute(
            "UPDATE papers SET title = ?, authors_truncated = ?, abstract = ?, category = ?,"
            " categories = ?, published = ?, has_code = ?, code_url = ?, arxiv_id = ?,"
            " arxiv_version = ?, doi = ?, links = ?, comment = ?, journal_ref = ?,"
            " title_key = ?, updated_at = CASE WHEN ? THEN ? ELSE updated_at END WHERE id = ?",
            (*after, title_key(merged.title), touch, now, paper_id),
        )
        await _write_authors(conn, paper_id, merged)
        for alias, kind in ((merged.arxiv_id, "arxiv"), (merged.doi, "doi")):
            if alias:
                await conn.execute(
                    "INSERT OR IGNORE INTO paper_aliases (alias, kind, paper_id) VALUES (?, ?, ?)",
                    (alias, kind, paper_id),
                )
    await _write_inferred(conn, paper_id, merged)
    return changed


async def _author_id(conn: aiosqlite.Connection, name: str) -> int:
    key = author_key(name) or clean_space(name).lower()
    await conn.execute(
        "INSERT INTO authors (key, name) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, name)
    )
    async with conn.execute("SELECT id FROM authors WHERE key = ?", (key,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _write_authors(conn: aiosqlite.Connection, paper_id: int, merged: PaperRecord) -> None:
    await conn.execute("DELETE FROM paper_authors WHERE paper_id = ?", (paper_id,))
    for position, name in enumerate(merged.authors):
        name = clean_space(name)
        await conn.execute(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)",
            (paper_id, position, await _author_id(conn, name), name),
        )


_INFERRED_BASE = 100_000  # positions of inferred owners sort after every listed author


async def _write_inferred(conn: aiosqlite.Connection, paper_id: int, merged: PaperRecord) -> None:
    """Link each source owner that a truncated author list hides; unlink once it shows them."""
    await conn.execute(
        "DELETE FROM paper_authors WHERE paper_id = ? AND inferred = 1", (paper_id,)
    )
    if not merged.authors_truncated:
        return
    async with conn.execute(
        "SELECT DISTINCT s.owner FROM paper_sources ps JOIN sources s ON s.id = ps.source_id"
        " WHERE ps.paper_id = ? AND s.owner IS NOT NULL",
        (paper_id,),
    ) as cur:
        owners = [row[0] for row in await cur.fetchall()]
    visible = {author_key(name) for name in merged.authors}
    for offset, owner in enumerate(sorted(owners)):
        if author_key(owner) in visible:
            continue
        await conn.execute(
            "INSERT INTO paper_authors (paper_id, position, author_id, name, inferred)"
            " VALUES (?, ?, ?, ?, 1)",
            (paper_id, _INFERRED_BASE + offset, await _author_id(conn, owner), owner),
        )


async def _learn_topics(conn: aiosqlite.Connection, batch: _Batch, index: TopicIndex) -> bool:
    """Create topics that this batch teaches; link every stored paper that mentions them."""
    ids = batch.new_ids + batch.changed_ids
    grew = False
    placeholders = ",".join("?" * len(ids))
    async with conn.execute(
        f"SELECT id, title, abstract, category FROM papers WHERE id IN ({placeholders})", ids
    ) as cur:
        rows = list(await cur.fetchall())
    new_set = set(batch.new_ids)
    for paper_id, title, abstract, category in rows:
        for definition in find_definitions(f"{title}. {abstract}"):
            slug = acronym_slug(definition.acronym)
            if definition.acronym in index.acronyms or await _topic_exists(conn, slug):
                continue
            topic_id = await _create_topic(
                conn, slug, definition.acronym, "acronym", definition.phrase
            )
            index.acronyms[definition.acronym] = topic_id
            index.phrases.setdefault(definition.phrase, topic_id)
            await _link_everywhere(conn, topic_id, [definition.acronym, definition.phrase])
            grew = True
        if category:
            slug = category.lower()
            if not await _topic_exists(conn, slug):
                await _create_topic(conn, slug, category, "category", None)
                grew = True
        if paper_id in new_set:
            for phrase in title_phrases(title):
                await conn.execute(
                    "INSERT INTO phrase_counts (phrase, papers) VALUES (?, 1)"
                    " ON CONFLICT (phrase) DO UPDATE SET papers = papers + 1",
                    (phrase,),
                )
    async with conn.execute(
        "SELECT phrase FROM phrase_counts WHERE papers >= ?", (min_phrase_papers(),)
    ) as cur:
        ripe = [row[0] for row in await cur.fetchall()]
    for phrase in ripe:
        slug = phrase_slug(phrase)
        if phrase in index.phrases or await _topic_exists(conn, slug):
            continue
        topic_id = await _create_topic(conn, slug, phrase, "phrase", None)
        index.phrases[phrase] = topic_id
        await _link_everywhere(conn, topic_id, [phrase])
        grew = True
    return grew


async def _topic_exists(conn: aiosqlite.Connection, slug: str) -> bool:
    async with conn.execute("SELECT 1 FROM topics WHERE slug = ?", (slug,)) as cur:
        return await cur.fetchone() is not None


async def _create_topic(
    conn: aiosqlite.Connection, slug: str, name: str, kind: str, expansion: str | None
) -> int:
    cur = await conn.execute(
        "INSERT INTO topics (slug, name, kind, expansion) VALUES (?, ?, ?, ?)",
        (slug, name, kind, expansion),
    )
    return int(cur.lastrowid or 0)


async def _link_everywhere(conn: aiosqlite.Connection, topic_id: int, spellings: list[str]) -> None:
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
    async with conn.execute(
        "SELECT p.id, p.title, p.abstract FROM papers_fts JOIN papers p ON p.id = papers_fts.rowid"
        " WHERE papers_fts MATCH ?",
        (query,),
    ) as cur:
        rows = list(await cur.fetchall())
    # FTS stems and folds case; the index check keeps only exact mentions.
    for paper_id, title, abstract in rows:
        if index.topics_for(f"{title}. {abstract}"):
            await conn.execute(
                "INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)",
                (paper_id, topic_id),
            )


async def _link_topics(conn: aiosqlite.Connection, paper_ids: list[int], index: TopicIndex) -> None:
    placeholders = ",".join("?" * len(paper_ids))
    async with conn.execute(
        f"SELECT id, title, abstract, category FROM papers WHERE id IN ({placeholders})", paper_ids
    ) as cur:
        rows = list(await cur.fetchall())
    for paper_id, title, abstract, category in rows:
        await conn.execute(
            "DELETE FROM paper_topics WHERE paper_id = ? AND topic_id IN"
            " (SELECT id FROM topics WHERE kind != 'category')",
            (paper_id,),
        )
        topic_ids = index.topics_for(f"{title}. {abstract}")
        if category:
            async with conn.execute(
                "SELECT id FROM topics WHERE slug = ? AND kind = 'category'", (category.lower(),)
            ) as cur:
                row = await cur.fetchone()
            if row:
                topic_ids.add(int(row[0]))
        await conn.executemany(
            "INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)",
            [(paper_id, tid) for tid in topic_ids],
        )


def delivery_nonce(subscription_id: int, paper_key: str) -> str:
    """Deterministic, at most 25 characters (Discord's limit), so a resend is recognised."""
    return hashlib.sha256(f"{subscription_id}:{paper_key}".encode()).hexdigest()[:25]


async def _queue_deliveries(conn: aiosqlite.Connection, batch: _Batch) -> int:
    """One outbox row per (subscription, new paper) that the subscription follows."""
    if not batch.new_ids:
        return 0
    queued = 0
    async with conn.execute(
        "SELECT id, target, value FROM subscriptions WHERE paused_reason IS NULL AND digest = 0"
    ) as cur:
        subs = list(await cur.fetchall())
    if not subs:
        return 0
    for paper_id in batch.new_ids:
        async with conn.execute(
            "SELECT p.key, p.category,"
            " (SELECT group_concat(a.key, char(31)) FROM paper_authors pa"
            "  JOIN authors a ON a.id = pa.author_id WHERE pa.paper_id = p.id),"
            " (SELECT group_concat(t.slug, char(31)) FROM paper_topics pt"
            "  JOIN topics t ON t.id = pt.topic_id WHERE pt.paper_id = p.id)"
            " FROM papers p WHERE p.id = ?",
            (paper_id,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        key, category, author_keys, topic_slugs = row
        authors = set((author_keys or "").split("\x1f"))
        topics = set((topic_slugs or "").split("\x1f"))
        for sub_id, target, value in subs:
            wanted = (
                target == "all"
                or (target == "author" and value in authors)
                or (target == "topic" and value in topics)
                or (target == "category" and category and value == category.lower())
            )
            if not wanted:
                continue
            cur = await conn.execute(
                "INSERT OR IGNORE INTO deliveries (subscription_id, paper_id, nonce, created_at)"
                " VALUES (?, ?, ?, ?)",
                (sub_id, paper_id, delivery_nonce(sub_id, key), batch.now),
            )
            queued += cur.rowcount
    return queued
