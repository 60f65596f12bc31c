"""Writing one stored paper's rows: its source records (kept, or "same as the paper"), aliases and authors.

storage/ingest.py decides what a batch does to each paper; these write the rows that
follow from it, record by record where a batch cannot do it set-wise (merges, updates).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import TYPE_CHECKING

from storage.merge import pack, record_to_json, same_json
from storage.models import Link, PaperRecord
from storage.text import author_key, clean_space

if TYPE_CHECKING:
    from storage.ingest import _Prepared

# paper_sources.record for a source whose record is exactly the paper as stored: it is
# read back from the paper's row (see spell_out_records), saving the record's bytes.
SAME_AS_PAPER = b""


def kept_record(item: _Prepared, merged: PaperRecord) -> bytes:
    record = item.record
    if (
        not record.inferred_authors
        and all(clean_space(name) == name for name in record.authors)
        # A new paper's record is nearly always the paper as merged: told apart without
        # encoding the merged record again (a twentieth of a bulk ingest's time).
        and (same_json(merged, record) or record_to_json(merged) == item.rec_json)
    ):
        return SAME_AS_PAPER
    return pack(item.rec_json)


def record_of_paper(conn: sqlite3.Connection, paper_id: int) -> PaperRecord:
    """The record a "same as the paper" source sent, rebuilt from the paper's row."""
    row = conn.execute(
        "SELECT title, authors_truncated, abstract, category, categories, published, has_code, code_url,"
        " arxiv_id, arxiv_version, doi, links, comment, journal_ref FROM papers WHERE id = ?",
        (paper_id,),
    ).fetchone()
    names = tuple(
        r[0] for r in conn.execute(
            "SELECT name FROM paper_authors WHERE paper_id = ? AND inferred = 0 ORDER BY position", (paper_id,)
        )
    )
    (title, truncated, abstract, category, categories, published, has_code, code_url,
     arxiv_id, arxiv_version, doi, links, comment, journal_ref) = row
    return PaperRecord(
        title=title, authors=names, authors_truncated=bool(truncated), abstract=abstract, category=category,
        categories=tuple(json.loads(categories)),
        published=date.fromisoformat(published) if published else None,
        has_code=bool(has_code), code_url=code_url, arxiv_id=arxiv_id, arxiv_version=arxiv_version, doi=doi,
        links=tuple(Link(*item) for item in json.loads(links)), comment=comment, journal_ref=journal_ref,
    )


def spell_out_records(conn: sqlite3.Connection, paper_id: int) -> None:
    """Write out any "same as the paper" record or time of this paper while its row still says it."""
    conn.execute(
        "UPDATE paper_sources SET first_seen_at = COALESCE(paper_sources.first_seen_at, p.first_seen_at),"
        " updated_at = COALESCE(paper_sources.updated_at, p.updated_at, p.first_seen_at) FROM papers p"
        " WHERE p.id = paper_sources.paper_id AND paper_sources.paper_id = ?"
        " AND (paper_sources.first_seen_at IS NULL OR paper_sources.updated_at IS NULL)",
        (paper_id,),
    )
    sources = [
        row[0] for row in conn.execute(
            "SELECT source_id FROM paper_sources WHERE paper_id = ? AND record = ?", (paper_id, SAME_AS_PAPER)
        )
    ]
    if sources:
        record = pack(record_to_json(record_of_paper(conn, paper_id)))
        conn.executemany(
            "UPDATE paper_sources SET record = ? WHERE paper_id = ? AND source_id = ?",
            [(record, paper_id, source_id) for source_id in sources],
        )


def write_aliases(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord) -> None:
    for alias, kind in ((merged.arxiv_id, "arxiv"), (merged.doi, "doi")):
        if alias:
            conn.execute(
                "INSERT OR IGNORE INTO paper_aliases (alias, kind, paper_id) VALUES (?, ?, ?)",
                (alias, kind, paper_id),
            )


def author_id(conn: sqlite3.Connection, name: str, cache: dict[str, int]) -> int:
    key = author_key(name) or clean_space(name).lower()
    found = cache.get(key)
    if found is not None:
        return found
    row = conn.execute("SELECT id FROM authors WHERE key = ?", (key,)).fetchone()
    if row is None:
        row = (conn.execute("INSERT INTO authors (key, name) VALUES (?, ?)", (key, name)).lastrowid,)
    cache[key] = int(row[0])
    return cache[key]


def write_authors(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord, cache: dict[str, int]) -> None:
    conn.execute("DELETE FROM paper_authors WHERE paper_id = ?", (paper_id,))
    for position, name in enumerate(merged.authors):
        name = clean_space(name)
        conn.execute(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)",
            (paper_id, position, author_id(conn, name, cache), name),
        )


_INFERRED_BASE = 100_000  # positions of inferred owners sort after every listed author


def write_inferred(conn: sqlite3.Connection, paper_id: int, merged: PaperRecord, cache: dict[str, int]) -> None:
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
    rows = inferred_names(merged, {row[0] for row in cur.fetchall()})
    conn.executemany(
        "INSERT INTO paper_authors (paper_id, position, author_id, name, inferred) VALUES (?, ?, ?, ?, 1)",
        [(paper_id, pos, author_id(conn, owner, cache), owner) for pos, owner, _ in rows],
    )


def inferred_names(merged: PaperRecord, owners: set[str]) -> list[tuple[int, str, int]]:
    """(position, name, 1) for each source owner or inferred author the truncated list does not show."""
    seen = {author_key(name) for name in merged.authors}
    out: list[tuple[int, str, int]] = []
    for offset, owner in enumerate(sorted(owners | set(merged.inferred_authors))):
        if author_key(owner) in seen:
            continue
        seen.add(author_key(owner))
        out.append((_INFERRED_BASE + offset, owner, 1))
    return out
