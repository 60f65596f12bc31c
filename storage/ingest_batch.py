"""Set-based pieces of a batch ingest: matching, keys and authors by temporary-table joins, rows by executemany.

storage/ingest.py decides what a chunk of records does; these functions answer
its questions for the whole chunk in a few statements instead of one look-up
per record, and write the rows of its new papers one statement per table.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable

from storage import topic_links
from storage.models import PaperRecord
from storage.text import author_key, clean_space, key_hash

log = logging.getLogger(__name__)

# Every look-up below starts from the chunk's temporary table (CROSS JOIN fixes SQLite's
# join order): with no statistics the planner otherwise scans the whole stored table
# once per chunk and probes the temporary one, which made ingest quadratic in the store.
# tests/test_ingest_plans.py checks each statement's plan.
# Temporary tables this module fills; the names are fixed here, never taken from input.
_TEXT_TABLES = ("temp_ingest_alias", "temp_ingest_author")
_INT_TABLES = ("temp_ingest_id", "temp_ingest_title_hash")
_ID_TABLE = "temp_ingest_id"


def _fill(conn: sqlite3.Connection, table: str, values: Iterable[object]) -> None:
    """Load ``values`` into one of this module's temporary tables (created on first use)."""
    if table in _INT_TABLES:
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (k INTEGER PRIMARY KEY)")
    elif table in _TEXT_TABLES:
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY) WITHOUT ROWID")
    else:  # pragma: no cover - a programming error, not input
        raise ValueError(f"unknown temporary table {table!r}")
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT OR IGNORE INTO {table} (k) VALUES (?)", ((v,) for v in values))


def alias_matches(conn: sqlite3.Connection, aliases: Iterable[str]) -> dict[str, int]:
    """The stored paper each known alias (arXiv id, DOI) names."""
    _fill(conn, "temp_ingest_alias", aliases)
    return {
        alias: int(paper_id)
        for alias, paper_id in conn.execute(
            "SELECT a.alias, a.paper_id FROM temp_ingest_alias t CROSS JOIN paper_aliases a ON a.alias = t.k"
        )
    }


def title_matches(
    conn: sqlite3.Connection, title_hashes: Iterable[int]
) -> dict[int, list[tuple[int, str | None, str | None]]]:
    """Stored papers by title hash (storage.text.title_hash), oldest first: (id, published, first listed author)."""
    _fill(conn, "temp_ingest_title_hash", title_hashes)
    out: dict[int, list[tuple[int, str | None, str | None]]] = {}
    for tkey, paper_id, published, first_author in conn.execute(
        "SELECT p.title_hash, p.id, p.published, (SELECT name FROM paper_authors pa WHERE pa.paper_id = p.id"
        " AND pa.inferred = 0 ORDER BY position LIMIT 1) FROM temp_ingest_title_hash t"
        " CROSS JOIN papers p ON p.title_hash = t.k ORDER BY p.id"
    ):
        out.setdefault(tkey, []).append((int(paper_id), published, first_author))
    return out


def source_hashes(conn: sqlite3.Connection, source_id: int, paper_ids: Iterable[int]) -> dict[int, bytes | str]:
    """What this source last said about each paper, as its record hash."""
    _fill(conn, _ID_TABLE, paper_ids)
    return {
        int(paper_id): digest
        for paper_id, digest in conn.execute(
            "SELECT ps.paper_id, ps.record_hash FROM temp_ingest_id t"
            " CROSS JOIN paper_sources ps ON ps.paper_id = t.k AND ps.source_id = ?",
            (source_id,),
        )
    }


def taken_keys(conn: sqlite3.Connection, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` a stored paper already holds, as its key or as an alias."""
    # Papers are found by their key's hash (papers_key_hash), then by the key itself.
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS temp_ingest_key (k TEXT PRIMARY KEY, h INTEGER) WITHOUT ROWID")
    conn.execute("DELETE FROM temp_ingest_key")
    conn.executemany("INSERT OR IGNORE INTO temp_ingest_key (k, h) VALUES (?, ?)", ((k, key_hash(k)) for k in keys))
    return {
        row[0]
        for row in conn.execute(
            "SELECT t.k FROM temp_ingest_key t WHERE EXISTS (SELECT 1 FROM papers p WHERE p.key_hash = t.h"
            " AND p.key = t.k) OR EXISTS (SELECT 1 FROM paper_aliases a WHERE a.alias = t.k)"
        )
    }


def author_cache_key(name: str) -> str:
    return author_key(name) or clean_space(name).lower()


def resolve_authors(conn: sqlite3.Connection, names: Iterable[str], cache: dict[str, int]) -> None:
    """Put every name's author id in ``cache``, creating the authors not stored yet.

    A new author is stored under the first spelling met, as one-by-one storing would.
    """
    wanted: dict[str, str] = {}
    for name in names:
        key = author_cache_key(name)
        if key not in cache:
            wanted.setdefault(key, name)
    if not wanted:
        return
    _fill(conn, "temp_ingest_author", wanted)
    query = "SELECT a.key, a.id FROM temp_ingest_author t CROSS JOIN authors a ON a.key = t.k"
    found = {key: int(author_id) for key, author_id in conn.execute(query)}
    missing = [(key, name) for key, name in wanted.items() if key not in found]
    if missing:
        conn.executemany("INSERT INTO authors (key, name) VALUES (?, ?)", missing)
        found = {key: int(author_id) for key, author_id in conn.execute(query)}
    cache.update(found)


def merged_columns(merged: PaperRecord) -> tuple:
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


def next_paper_id(conn: sqlite3.Connection) -> int:
    """The id SQLite would give the next paper (the rowid after the largest), so ids stay as before."""
    return int(conn.execute("SELECT COALESCE(max(id), 0) + 1 FROM papers").fetchone()[0])


# Secondary indexes no look-up of an ingest reads. A batch much larger than the store drops
# them and builds them again at its end, inside its transaction: inserting millions of rows
# into them one by one wrote their pages all over (a 1M-paper batch's links alone are 14M
# entries in random topic order), where CREATE INDEX sorts once and writes each page once.
# The topic-paper pairs (topic_papers) are treated alike: the batch writes its links to
# paper_topics alone, and the table is written again, sorted, at its end.
BULK_INDEXES = ("paper_authors_author", "papers_first_seen", "papers_category", "paper_sources_source")
BULK_RECORDS = 50_000  # and at least twice the papers stored


def drop_bulk_indexes(conn: sqlite3.Connection, records: int) -> list[str]:
    """Drop BULK_INDEXES for a batch that dwarfs the store; the statements that build them again."""
    if records < BULK_RECORDS:
        return []
    stored = conn.execute("SELECT COALESCE(max(id), 0) FROM papers").fetchone()[0]
    if records < 2 * stored:
        return []
    marks = ",".join("?" * len(BULK_INDEXES))
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND name IN ({marks})", BULK_INDEXES
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP INDEX {name}")  # names from BULK_INDEXES only
    again = [*(sql for _, sql in rows), *topic_links.BULK_REBUILD]
    log.info("batch of about %d records into %d papers: building %d indexes and the topic pairs at its end",
             records, stored, len(rows))
    return again
