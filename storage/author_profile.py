"""An author's profile for /author and the CLI: papers, most frequent coauthors, years active, topics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.models import AuthorProfile
from storage.text import author_key

if TYPE_CHECKING:
    from storage.store import Store


async def profile(store: Store, key: str) -> AuthorProfile | None:
    """The author with ``key`` (or its folded form): papers newest first, coauthors, years, topics."""
    row = await store.db.fetchone("SELECT id, key, name FROM authors WHERE key = ?", (key,))
    if row is None:
        row = await store.db.fetchone(
            "SELECT id, key, name FROM authors WHERE key = ?", (author_key(key),)
        )
    if row is None:
        return None
    author_id, akey, name = row
    papers = await store._papers(
        "WHERE p.id IN (SELECT paper_id FROM paper_authors WHERE author_id = ?)",
        (author_id,),
        "ORDER BY p.published DESC, p.first_seen_at DESC",
    )
    coauthors = [
        (r[0], int(r[1]))
        for r in await store.db.fetchall(
            "SELECT a.name, count(DISTINCT pa.paper_id) AS n FROM paper_authors pa"
            " JOIN authors a ON a.id = pa.author_id WHERE pa.paper_id IN"
            " (SELECT paper_id FROM paper_authors WHERE author_id = ?) AND pa.author_id != ?"
            " GROUP BY a.id ORDER BY n DESC, a.name LIMIT 50",
            (author_id, author_id),
        )
    ]
    topics = [
        (r[0], int(r[1]))
        for r in await store.db.fetchall(
            "SELECT t.name, count(*) AS n FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
            " WHERE pt.paper_id IN (SELECT paper_id FROM paper_authors WHERE author_id = ?)"
            " AND t.kind != 'category' GROUP BY t.id ORDER BY n DESC, t.name LIMIT 15",
            (author_id,),
        )
    ]
    years = [p.published.year for p in papers if p.published]
    return AuthorProfile(
        key=akey,
        name=name,
        papers=papers,
        coauthors=coauthors,
        years=(min(years), max(years)) if years else None,
        topics=topics,
    )
