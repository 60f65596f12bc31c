"""`--engine-only`: the search engines alone at sizes the full ingest path cannot reach in one sitting.

Generated rows go straight into the papers table (no parsing, no merge, no
topics), then the derived SearchIndex is built from the store exactly as
``sync`` builds it, beside bare FTS5 and bare Tantivy on the same rows. Only
search and index figures come out; expansions are the corpus's acronyms.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

from bench import ingest_bench, search_bench
from bench.common import Figure, db_size, dir_size
from bench.corpus import CorpusGenerator
from bench.queries import search_mix
from storage.db import connect_sync
from storage.search import Expansions
from storage.search_index import SearchIndex
from storage.store import Store
from storage.text import key_hash, phrase_words, title_hash

log = logging.getLogger(__name__)
_CHUNK = 20_000


def _create_store(path: Path) -> sqlite3.Connection:
    """A store with every migration applied, the way Store.open leaves it, on a plain connection."""

    async def migrate() -> None:
        store = await Store.open(path)
        await store.close()

    asyncio.run(migrate())
    return connect_sync(str(path))


def _fill(conn: sqlite3.Connection, gen: CorpusGenerator, n: int) -> tuple[list[tuple[str, str]], float]:
    """Insert n generated papers straight into the papers table; returns the rows and seconds."""
    rows: list[tuple[str, str]] = []
    spent = 0.0
    batch: list[tuple[object, ...]] = []
    now = "2025-01-01T00:00:00.000000+00:00"
    for i, record in enumerate(gen, 1):
        rows.append((record.title, record.abstract))
        batch.append((f"p{i}", key_hash(f"p{i}"), record.title, title_hash(record.title), record.abstract,
                      record.category,
                      record.published.isoformat() if record.published else None, now, now))
        if len(batch) == _CHUNK or i == n:
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO papers (key, key_hash, title, title_hash, abstract, category, published,"
                " first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.execute("COMMIT")
            spent += time.perf_counter() - start
            batch.clear()
        if i == n:
            break
    return rows, spent


def run(data: Path, papers: int, seed: int, rounds: int) -> list[Figure]:
    ws = ingest_bench.Workspace(data / f"engine-{papers}")
    ws.reset()
    gen = CorpusGenerator(papers, seed)
    conn = _create_store(ws.db)
    try:
        rows, insert_s = _fill(conn, gen, papers)
        log.info("stored %d rows in %.1fs", len(rows), insert_s)
        index = SearchIndex.open(ws.index)
        try:
            start = time.perf_counter()
            index.sync(conn)
            build_s = time.perf_counter() - start
            log.info("search index built in %.1fs", build_s)
            fts_s = ingest_bench.bare_fts5_insert(ws.bare_fts, rows)
            tan_s = ingest_bench.bare_tantivy_insert(ws.bare_tantivy, rows)
            log.info("bare fts5 %.1fs, bare tantivy %.1fs", fts_s, tan_s)
            del rows
            expansions = Expansions(
                {a.lower(): " ".join(phrase_words(p)) for a, p in gen.vocab.acronyms},
                {" ".join(phrase_words(p)): a for a, p in gen.vocab.acronyms},
            )
            mix = search_mix(gen.vocab)
            fts = search_bench.BareFts5(ws.bare_fts)
            tan = search_bench.BareTantivy(ws.bare_tantivy)
            try:
                timed = search_bench.time_interleaved(mix, {
                    "fts": fts.search,
                    "tantivy": tan.search,
                    "engine": lambda q: index.search(q, 10, 0, expansions),
                }, rounds)
                fts_samples, tan_samples, engine = timed["fts"], timed["tantivy"], timed["engine"]
            finally:
                fts.close()
        finally:
            index.close()
    finally:
        conn.close()
    figures = [
        Figure("index build from the store (SearchIndex.sync)", papers / build_s, "papers/s",
               {"bare FTS5 executemany": papers / fts_s, "bare Tantivy add_document": papers / tan_s}),
        Figure("search index size", dir_size(ws.index) / papers, "B/paper",
               {"bare Tantivy": dir_size(ws.bare_tantivy) / papers,
                "bare FTS5 (with text)": db_size(ws.bare_fts) / papers}),
    ]
    figures += search_bench.search_figures(engine, fts_samples, tan_samples,
                                           "search engine alone (SearchIndex.search, ids)",
                                           headline=True, compare_common=True)
    figures += _service_search(ws, mix, fts_samples, tan_samples, rounds)
    return figures


def _service_search(ws: ingest_bench.Workspace, mix: list[tuple[str, str]], fts_samples: dict[str, list[float]],
                    tan_samples: dict[str, list[float]], rounds: int) -> list[Figure]:
    """The same mix through a service process: index ids, then rows and authors from SQLite."""
    from bench.__main__ import Worker

    worker = Worker(ws.db, ws.index)
    try:
        worker.send({"rounds": rounds, "search": mix, "authors": [], "search_only": True})
        worker.read("open")
        found = worker.read("search")
        worker.send("done")
        rss = worker.read("rss")["peak_rss_mb"]
    finally:
        worker.close()
    key = "store" if "indexed" not in found else "indexed"
    figures = search_bench.search_figures(found[key], fts_samples, tan_samples,
                                          "search via the service (index + rows, no authors stored)",
                                          headline=True, compare_common=True)
    figures.append(Figure("service peak RSS (search only)", rss, "MB", target=300.0, target_text="< 300 MB"))
    return figures


__all__ = ["run"]
