"""Papers of a topic: the SQL that reads topic_papers with its recent part, and the fold that merges them.

paper_topics answers "topics of a paper"; "papers of a topic" is topic_papers plus
topic_papers_recent. A link is written to paper_topics and to the recent part together,
by ``add_fresh`` or ``add`` here (migration 0014); a deleted link leaves both through the
delete trigger of migration 0012, so cascades reach them. A query by topic reads both
parts, each by its own key, through the fragments here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from array import array

log = logging.getLogger(__name__)

# A link packed in one integer: paper id << LINK_SHIFT | topic id. Sorted, such integers
# are links in paper_topics' key order; SQLite reads them from one JSON array, whose
# integers must stay signed 64-bit ones.
LINK_SHIFT = 32
_TOPIC_BITS = (1 << LINK_SHIFT) - 1


def packable(top_paper: int, top_topic: int) -> bool:
    """Whether links up to these ids can be packed."""
    return top_paper < 1 << (63 - LINK_SHIFT) and top_topic <= _TOPIC_BITS


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


def add_fresh(conn: sqlite3.Connection, links: list[tuple[int, int]], *, by_topic: bool = True) -> None:
    """Write (paper, topic) ``links`` that no paper holds yet, as a batch's new or relinked papers do.

    ``by_topic=False`` leaves the by-topic pairs out, for a bulk batch that writes
    topic_papers again from paper_topics at its end (``BULK_REBUILD``).
    """
    conn.executemany("INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) VALUES (?, ?)", links)
    if by_topic:
        conn.executemany("INSERT OR IGNORE INTO topic_papers_recent (topic_id, paper_id) VALUES (?, ?)",
                         [(topic_id, paper_id) for paper_id, topic_id in links])


def add_packed(conn: sqlite3.Connection, packed: array, *, by_topic: bool = True) -> None:
    """``add_fresh`` for links packed as storage/topic_workers.py packs them, sorted.

    SQLite unpacks them from one JSON array: at a million papers' 14 million links, a
    third of the time binding a (paper, topic) tuple per row took.
    """
    if not packed:
        return
    values = json.dumps(packed.tolist())
    conn.execute(_ADD_PACKED, (values,))
    if by_topic:
        conn.execute(_ADD_PACKED_BY_TOPIC, (values,))


_ADD_PACKED = (
    f"INSERT OR IGNORE INTO paper_topics (paper_id, topic_id) SELECT value >> {LINK_SHIFT},"
    f" value & {_TOPIC_BITS} FROM json_each(?)"
)
_ADD_PACKED_BY_TOPIC = (
    f"INSERT OR IGNORE INTO topic_papers_recent (topic_id, paper_id) SELECT value & {_TOPIC_BITS},"
    f" value >> {LINK_SHIFT} FROM json_each(?)"
)


def add(conn: sqlite3.Connection, links: list[tuple[int, int]]) -> int:
    """Write the (paper, topic) ``links`` not held yet; returns how many were new.

    The ones held are found by topic, a short read of both parts for each of the few
    topics a linking of older papers adds, instead of one look-up per link.
    """
    topics = sorted({topic_id for _, topic_id in links})
    held: set[tuple[int, int]] = set()
    for start in range(0, len(topics), _IDS_AT_ONCE):
        part = topics[start : start + _IDS_AT_ONCE]
        marks = ",".join("?" * len(part))
        held.update((int(p), int(t)) for t, p in conn.execute(
            f"SELECT topic_id, paper_id FROM topic_papers WHERE topic_id IN ({marks}) UNION ALL"
            f" SELECT topic_id, paper_id FROM topic_papers_recent WHERE topic_id IN ({marks})", part + part))
    new = sorted({link for link in links if link not in held})
    add_fresh(conn, new)
    return len(new)


_IDS_AT_ONCE = 400  # twice as many parameters: well under SQLite's limit


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


# For a batch that builds its indexes at its end (storage/ingest_batch.py): its links go to
# paper_topics alone (``add_fresh`` with ``by_topic=False``), and topic_papers is written
# again from paper_topics, sorted.
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
