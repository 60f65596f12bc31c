"""What each byte per paper is for: the store's tables (with their indexes) and the search index, per paper."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, dir_size, read_only

# What each table holds, in the words a figure prints beside its bytes.
_PURPOSE = {
    "papers": "the paper's row: title, abstract, fields",
    "paper_sources": "what each source said (record and times empty when the paper's own)",
    "phrase_counts": "title phrases counted to learn topics (48-bit hashed key + count)",
    "phrase_counts_recent": "phrase counts of recent small batches, until folded into phrase_counts",
    "paper_topics": "paper-topic links, by paper (no rowid)",
    "topic_papers": "the same links by topic, up to the last fold (no rowid)",
    "topic_papers_recent": "links by topic of recent small batches, until folded into topic_papers",
    "paper_authors": "author lists",
    "authors": "distinct authors",
    "paper_aliases": "arXiv ids and DOIs",
    "search_log": "index changes not yet synced",
    "topics": "learnt topics",
}
# The papers columns that are the paper's own text (counted in "the text"); the rest is bookkeeping.
_TEXT_COLUMNS = ("title", "abstract")


@dataclass(slots=True)
class TableBytes:
    """One table's pages (its indexes counted with it), split by what the bytes are."""

    total: int = 0
    payload: int = 0  # the rows' own bytes (records and index keys)
    unused: int = 0  # free space left in the table's pages
    indexes: int = 0  # of total, the bytes in the table's indexes (and WITHOUT ROWID key copies)

    @property
    def overhead(self) -> int:
        """Page headers, cell pointers and b-tree interior pages."""
        return self.total - self.payload - self.unused


def table_bytes(db: Path) -> dict[str, int]:
    """Bytes on disk per table, each table's indexes counted with it."""
    return {table: t.total for table, t in table_breakdown(db).items()}


def table_breakdown(db: Path) -> dict[str, TableBytes]:
    conn = read_only(db)
    try:
        owner = {name: table for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_schema")}
        out: dict[str, TableBytes] = {}
        for name, size, payload, unused in conn.execute(
            "SELECT name, sum(pgsize), sum(payload), sum(unused) FROM dbstat GROUP BY name"
        ):
            table = owner.get(name, name)
            t = out.setdefault(table, TableBytes())
            t.total += int(size)
            t.payload += int(payload or 0)
            t.unused += int(unused or 0)
            if name != table:
                t.indexes += int(size)
        return out
    finally:
        conn.close()


def paper_column_bytes(db: Path) -> dict[str, float]:
    """Average stored bytes per paper of each bookkeeping column of papers (the text columns left out)."""
    conn = read_only(db)
    try:
        # Names from the schema itself, each quoted as an identifier.
        columns = [r[1] for r in conn.execute("PRAGMA table_info(papers)") if r[1] not in _TEXT_COLUMNS]
        sums = ", ".join(f'avg(coalesce(length(CAST("{c}" AS BLOB)), 0))' for c in columns)
        row = conn.execute(f"SELECT {sums} FROM papers").fetchone()
        return {c: float(v or 0) for c, v in zip(columns, row, strict=True)}
    finally:
        conn.close()


def byte_figures(db: Path, index: Path, papers: int, floor: float = 0.01) -> list[Figure]:
    """One figure per table holding at least ``floor`` of the bytes, then the rest, then the search index."""
    try:
        tables = table_breakdown(db)
    except sqlite3.Error as exc:  # a SQLite built without dbstat
        return [Figure("disk per paper, by table", 0.0, "B", note=f"dbstat unavailable: {exc}")]
    total = sum(t.total for t in tables.values()) + dir_size(index)
    figures: list[Figure] = []
    rest = 0
    for table, t in sorted(tables.items(), key=lambda kv: -kv[1].total):
        if t.total < floor * total:
            rest += t.total
            continue
        split = (f"rows {t.payload / papers:,.0f} B, free page space {t.unused / papers:,.0f} B,"
                 f" b-tree overhead {t.overhead / papers:,.0f} B; indexes {t.indexes / papers:,.0f} B of it")
        figures.append(Figure(f"disk per paper: {table} (+ its indexes)", t.total / papers, "B",
                              note=f"{_PURPOSE.get(table, '')}: {split}"))
    if "papers" in tables and papers:
        columns = paper_column_bytes(db)
        big = sorted(columns.items(), key=lambda kv: -kv[1])[:6]
        figures.append(Figure("disk per paper: papers bookkeeping columns", sum(columns.values()), "B",
                              note=", ".join(f"{c} {v:,.0f}" for c, v in big) + " (besides title and abstract)"))
    figures.append(Figure("disk per paper: every other table", rest / papers, "B"))
    figures.append(Figure("disk per paper: search index folder", dir_size(index) / papers, "B",
                          note="Tantivy segments beside the store"))
    return figures
