"""Reading papers table rows into Paper dataclasses: the columns, the author and source joins, the mapping.

Shared by the Store's async repository calls and by searches, which read their
hits in one worker-thread call on a plain sqlite3 connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache

from storage.models import Link, Paper

PAPER_COLUMNS = (
    "p.id, p.key, p.title, p.authors_truncated, p.abstract, p.category, p.published, p.has_code,"
    " p.code_url, p.first_seen_at, COALESCE(p.updated_at, p.first_seen_at), p.links, p.categories, p.arxiv_id, p.doi,"
    " p.comment, p.journal_ref"
)
TITLE_AT, ABSTRACT_AT = 2, 4  # where a row of PAPER_COLUMNS holds them


def authors_sql(n: int) -> str:
    return (f"SELECT paper_id, name, inferred FROM paper_authors WHERE paper_id IN ({','.join('?' * n)})"
            " ORDER BY paper_id, position")


def sources_sql(n: int) -> str:
    return ("SELECT ps.paper_id, s.name FROM paper_sources ps JOIN sources s ON s.id = ps.source_id"
            f" WHERE ps.paper_id IN ({','.join('?' * n)}) ORDER BY s.name")


def to_papers(rows: Sequence[Sequence], author_rows: Iterable[Sequence], source_rows: Iterable[Sequence]
              ) -> list[Paper]:
    """Papers from PAPER_COLUMNS rows and the rows of ``authors_sql`` and ``sources_sql`` for them."""
    authors: dict[int, list[tuple[str, int]]] = {row[0]: [] for row in rows}
    for paper_id, name, inferred in author_rows:
        authors[paper_id].append((name, inferred))
    sources: dict[int, list[str]] = {row[0]: [] for row in rows}
    for paper_id, name in source_rows:
        sources[paper_id].append(name)
    return [row_to_paper(row, authors[row[0]], sources[row[0]]) for row in rows]


def paper_rows(conn: sqlite3.Connection, ids: Sequence[int]) -> list[sqlite3.Row]:
    """PAPER_COLUMNS rows of ``ids`` (in no particular order; missing ids left out)."""
    if not ids:
        return []
    return conn.execute(f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.id IN ({','.join('?' * len(ids))})",
                        list(ids)).fetchall()


def hydrate(conn: sqlite3.Connection, rows: Sequence[Sequence]) -> list[Paper]:
    """Papers for PAPER_COLUMNS rows, with their authors and sources, on a plain connection."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    return to_papers(rows, conn.execute(authors_sql(len(ids)), ids), conn.execute(sources_sql(len(ids)), ids))


@lru_cache(maxsize=1_024)
def _categories(text: str) -> tuple[str, ...]:
    # A handful of distinct lists ('["CV"]', '["LG", "CV"]') across a whole store.
    return tuple(json.loads(text))


def row_to_paper(row: Sequence, authors: list[tuple[str, int]], sources: list[str]) -> Paper:
    (pid, key, title, truncated, abstract, category, published, has_code, code_url, first_seen,
     updated, links, categories, arxiv_id, doi, comment, journal_ref) = row
    return Paper(
        id=pid,
        key=key,
        title=title,
        authors=tuple(name for name, inferred in authors if not inferred),
        authors_truncated=bool(truncated),
        abstract=abstract,
        category=category,
        published=date.fromisoformat(published) if published else None,
        has_code=bool(has_code),
        code_url=code_url,
        first_seen_at=datetime.fromisoformat(first_seen),
        updated_at=datetime.fromisoformat(updated),
        links=tuple(Link(*item) for item in json.loads(links)) if links != "[]" else (),
        categories=_categories(categories),
        arxiv_id=arxiv_id,
        doi=doi,
        comment=comment,
        journal_ref=journal_ref,
        inferred_authors=tuple(name for name, inferred in authors if inferred),
        sources=tuple(sources),
    )


__all__ = ["PAPER_COLUMNS", "authors_sql", "hydrate", "paper_rows", "row_to_paper", "sources_sql", "to_papers"]
