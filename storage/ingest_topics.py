"""Topics an ingest batch teaches and links: acronyms, phrases and categories, linked to the papers naming them."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator

from storage.topics import (
    TopicIndex,
    acronym_slug,
    find_definitions,
    min_phrase_papers,
    phrase_slug,
    title_phrases,
)


def _rows(conn: sqlite3.Connection, ids: list[int], columns: str) -> Iterator[tuple]:
    """Papers by id, in chunks that stay under SQLite's bound-variable limit."""
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(f"SELECT {columns} FROM papers WHERE id IN ({marks})", chunk)


def learn_topics(
    conn: sqlite3.Connection, new_ids: list[int], changed_ids: list[int], had_papers: bool, index: TopicIndex
) -> bool:
    """Create topics that this batch teaches; link every stored paper that mentions them."""
    grew = False
    new_set = set(new_ids)
    phrases: Counter[str] = Counter()
    for paper_id, title, abstract, category in _rows(
        conn, new_ids + changed_ids, "id, title, abstract, category"
    ):
        for definition in find_definitions(f"{title}. {abstract}"):
            slug = acronym_slug(definition.acronym)
            if definition.acronym in index.acronyms or _topic_exists(conn, slug):
                continue
            topic_id = _create_topic(
                conn, slug, definition.acronym, "acronym", definition.phrase, pending=had_papers
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
        topic_id = _create_topic(conn, slug, phrase, "phrase", None, pending=had_papers)
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


def link_topics(conn: sqlite3.Connection, paper_ids: list[int], index: TopicIndex, fresh: set[int]) -> None:
    """Link each paper to the topics its text names and to its category, afresh."""
    category_ids = {
        slug: topic_id for topic_id, slug in conn.execute("SELECT id, slug FROM topics WHERE kind = 'category'")
    }
    links: list[tuple[int, int]] = []
    stale = [(pid,) for pid in paper_ids if pid not in fresh]
    # The category link is recomputed below with the rest.
    conn.executemany("DELETE FROM paper_topics WHERE paper_id = ?", stale)
    for paper_id, title, abstract, category in _rows(conn, paper_ids, "id, title, abstract, category"):
        topic_ids = index.topics_for(f"{title}. {abstract}")
        if category and category.lower() in category_ids:
            topic_ids.add(category_ids[category.lower()])
        links += [(paper_id, tid) for tid in topic_ids]
    conn.executemany("INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)", links)
