"""Author rows for the author benchmark: a store's authors and paper_authors as an N-paper corpus has them.

The full benchmark ingests every paper before it looks an author up; this
fills only the two tables the author index reads, with the names and the
long-tailed productivity of ``bench.corpus`` (its own author pool for N papers,
each paper drawing its author list the way ``CorpusGenerator`` does and
keeping the three names a listing shows), so an author look-up can be
measured at a million papers in a minute.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from pathlib import Path

from bench.corpus import CorpusGenerator
from storage.store import Store
from storage.text import author_key

log = logging.getLogger(__name__)


def draw_author_lists(papers: int, seed: int = 7) -> tuple[list[str], list[tuple[str, ...]]]:
    """The corpus's author pool and, per paper, the names a listing of it shows."""
    gen = CorpusGenerator(papers + 1_000, seed)  # the vocabulary bench/__main__.py draws its mixes from
    vocab, shape = gen.vocab, gen.shape
    rng = random.Random(seed * 7_919 + 1)
    pool, cum = vocab.authors, vocab.author_cum
    lists: list[tuple[str, ...]] = []
    for _ in range(papers):
        n = 1 + min(int(rng.expovariate(1.0 / (shape.authors_per_paper - 1))), 30)
        names: list[str] = []
        for name in rng.choices(pool, cum_weights=cum, k=n):
            if name not in names:
                names.append(name)
        lists.append(tuple(names[:3]))
    return pool, lists


def author_db(folder: Path, papers: int, seed: int = 7) -> Path:
    """A SQLite file with the store's schema holding only authors and paper_authors; made once."""
    path = folder / f"authors-{papers}-s{seed}.sqlite3"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    _, lists = draw_author_lists(papers, seed)
    tmp = path.with_suffix(".part")
    tmp.unlink(missing_ok=True)
    asyncio.run(_migrate(tmp))
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # no paper rows: the index reads only these two tables
        ids: dict[str, int] = {}
        names: list[tuple[int, str, str]] = []
        rows: list[tuple[int, int, int, str]] = []
        for paper_id, authors in enumerate(lists, 1):
            for position, name in enumerate(authors):
                key = author_key(name)
                author_id = ids.get(key)
                if author_id is None:
                    author_id = ids[key] = len(ids) + 1
                    names.append((author_id, key, name))
                rows.append((paper_id, position, author_id, name))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO authors (id, key, name) VALUES (?, ?, ?)", names)
        conn.executemany(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)", rows
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    tmp.replace(path)
    log.info("%d papers: %d distinct authors, %d author rows in %s", papers, len(names), len(rows), path)
    return path


async def _migrate(path: Path) -> None:
    """The store's own migrations, so the tables are the real ones."""
    store = await Store.open(path, search_index=False)
    await store.close()


__all__ = ["author_db", "draw_author_lists"]
