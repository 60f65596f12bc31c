"""Papers of a topic: the SQL that reads topic_papers with its recent part, and the fold that merges them.

paper_topics answers "topics of a paper"; "papers of a topic" is topic_papers plus
topic_papers_recent, both kept by the triggers of migration 0012. A query by topic reads
both parts, each by its own key, through the fragments here.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

# Once the recent part holds this many pairs it is folded into topic_papers, in key order,
# so each page of the big table is written once per fold: at a million papers, once every
# dozen or so batches of 1,000 papers.
RECENT_LINKS = 200_000

# The ids of the papers of the topic with a slug: two parameters, the slug twice.
PAPERS_OF_SLUG = (
    "(SELECT paper_id FROM topic_papers WHERE topic_id = (SELECT id FROM topics WHERE slug = ?)"
    " UNION ALL SELECT paper_id FROM topic_papers_recent WHERE topic_id = (SELECT id FROM topics WHERE slug = ?))"
)


def count_of(topic_id: str) -> str:
    """How many papers the topic whose id is the SQL expression ``topic_id`` has (a fixed column name)."""
    return (
        f"((SELECT count(*) FROM topic_papers x WHERE x.topic_id = {topic_id})"
        f" + (SELECT count(*) FROM topic_papers_recent x WHERE x.topic_id = {topic_id}))"
    )


def has_papers(topic_id: str) -> str:
    """Whether the topic whose id is the SQL expression ``topic_id`` has any paper."""
    return (
        f"(EXISTS (SELECT 1 FROM topic_papers x WHERE x.topic_id = {topic_id})"
        f" OR EXISTS (SELECT 1 FROM topic_papers_recent x WHERE x.topic_id = {topic_id}))"
    )


def fold_recent(conn: sqlite3.Connection) -> None:
    """Merge topic_papers_recent into topic_papers once it holds RECENT_LINKS pairs."""
    held = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM topic_papers_recent LIMIT ?)", (RECENT_LINKS,)
    ).fetchone()[0]
    if held < RECENT_LINKS:
        return
    # The recent part is read in its key order, which is the big table's: one pass along it.
    conn.execute(
        "INSERT OR IGNORE INTO topic_papers (topic_id, paper_id) SELECT topic_id, paper_id FROM topic_papers_recent"
    )
    conn.execute("DELETE FROM topic_papers_recent")
    log.debug("folded %d or more recent topic links", held)


# For a batch that builds its indexes at its end (storage/ingest_batch.py): the insert
# trigger goes for the batch, and topic_papers is written again from paper_topics, sorted.
BULK_REBUILD = (
    "DELETE FROM topic_papers",
    "DELETE FROM topic_papers_recent",
    "INSERT INTO topic_papers (topic_id, paper_id) SELECT topic_id, paper_id FROM paper_topics"
    " ORDER BY topic_id, paper_id",
)


def rewrite(conn: sqlite3.Connection) -> None:
    """Write topic_papers again from paper_topics (``paperboy db reindex``), with nothing left recent."""
    for sql in BULK_REBUILD:
        conn.execute(sql)
