"""What each byte per paper is for: the store's tables (with their indexes) and the search index, per paper."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.common import Figure, dir_size

# Tables whose bytes are the paper's own text and fields, not bookkeeping about it.
_PURPOSE = {
    "papers": "the paper's row: title, abstract, fields",
    "paper_sources": "what each source said (empty when the same as the paper)",
    "papers_fts": "FTS5 index (title, abstract)",
    "phrase_counts": "title phrases counted to learn topics",
    "paper_topics": "paper-topic links",
    "paper_authors": "author lists",
    "authors": "distinct authors",
    "paper_aliases": "arXiv ids and DOIs",
    "search_log": "index changes not yet synced",
    "topics": "learnt topics",
}


def table_bytes(db: Path) -> dict[str, int]:
    """Bytes on disk per table, each table's indexes (and FTS5 shadow tables) counted with it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        owner = {name: table for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_schema")}
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            for fts in ("papers_fts",):
                if table.startswith(fts + "_"):
                    table = fts
            sizes[table] = sizes.get(table, 0) + int(size)
        return sizes
    finally:
        conn.close()


def byte_figures(db: Path, index: Path, papers: int, floor: float = 0.01) -> list[Figure]:
    """One figure per table holding at least ``floor`` of the bytes, then the rest, then the search index."""
    try:
        sizes = table_bytes(db)
    except sqlite3.Error as exc:  # a SQLite built without dbstat
        return [Figure("disk per paper, by table", 0.0, "B", note=f"dbstat unavailable: {exc}")]
    total = sum(sizes.values()) + dir_size(index)
    figures: list[Figure] = []
    rest = 0
    for table, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        if size < floor * total:
            rest += size
            continue
        figures.append(Figure(f"disk per paper: {table} (+ its indexes)", size / papers, "B",
                              note=_PURPOSE.get(table, "")))
    figures.append(Figure("disk per paper: every other table", rest / papers, "B"))
    figures.append(Figure("disk per paper: search index folder", dir_size(index) / papers, "B",
                          note="Tantivy segments beside the store"))
    return figures
