"""`python -m bench.store_again --papers N`: disk and service-memory figures again, on the store a full run left.

The store is opened with this code first, so its migrations apply as an upgrade would
apply them; then it prints what each byte per paper is for (and the pages the migrations
freed, which the file keeps until a VACUUM), and runs the service worker's phases on it
(search, author look-ups, feed, serving) printing resident memory after each: the peak
and what it is made of (anonymous memory, and mapped index files). No ingest is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import urllib.request
from pathlib import Path

from bench import disk_bench, search_bench
from bench.common import Figure, add_full_run_arguments, db_size, dir_size, read_only, render_table
from bench.corpus import CorpusGenerator
from bench.queries import author_mix, search_mix
from storage.store import Store, index_folder

log = logging.getLogger(__name__)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.store_again", description=__doc__.split("\n")[0])
    add_full_run_arguments(parser, seed_help="the full run's corpus seed (for the query mix)")
    parser.add_argument("--db", type=Path, help="a store file to use instead of the full run's")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the query mix")
    parser.add_argument("--requests", type=int, default=500, help="feed requests served before the RSS is read")
    return parser.parse_args(argv)


def text_bytes(db: Path) -> int:
    """The papers' own text (titles, abstracts, author names) as UTF-8 bytes, read from the store."""
    conn = read_only(db)
    try:
        papers = conn.execute(
            "SELECT COALESCE(sum(length(CAST(title AS BLOB)) + length(CAST(abstract AS BLOB))), 0) FROM papers"
        ).fetchone()[0]
        names = conn.execute(
            "SELECT COALESCE(sum(length(CAST(name AS BLOB))), 0) FROM paper_authors WHERE inferred = 0"
        ).fetchone()[0]
        return int(papers) + int(names)
    finally:
        conn.close()


def freelist_bytes(db: Path) -> int:
    conn = read_only(db)
    try:
        return int(conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


async def _open_and_count(db: Path) -> int:
    async with await Store.open(db) as store:
        return await store.count_papers()


def disk_figures(db: Path) -> list[Figure]:
    index = Path(index_folder(db))
    papers = asyncio.run(_open_and_count(db))  # applies this code's migrations first
    n = max(papers, 1)
    store_bytes, index_bytes, free = db_size(db), dir_size(index), freelist_bytes(db)
    beyond = (store_bytes - free + index_bytes - text_bytes(db)) / n
    figures = [
        Figure("papers in the store", papers, "papers"),
        Figure("disk per paper beyond the text, free pages left out", beyond, "B", target=1500.0,
               target_text="< 1,500 B", note=f"the file also holds {free / n:,.0f} B/paper of free pages"),
    ]
    return figures + disk_bench.byte_figures(db, index, n)


def memory_figures(db: Path, args: argparse.Namespace) -> list[Figure]:
    """The service worker's phases on this store, resident memory after each."""
    from bench.__main__ import Worker  # the same service process the full run measures

    vocab = CorpusGenerator(args.papers + 1_000, args.seed).vocab
    worker = Worker(db, Path(index_folder(db)))
    figures: list[Figure] = []
    try:
        worker.send({"rounds": args.rounds, "search": search_mix(vocab), "authors": author_mix(vocab)})
        for phase in ("open", "search", "authors", "feed", "serve"):
            message = worker.read(phase)
            memory = message.get("memory_mb", {})
            figures.append(Figure(f"service RSS after {phase}", memory.get("VmRSS", 0.0), "MB",
                                  note=f"anonymous {memory.get('RssAnon', 0):.0f} MB, mapped files"
                                  f" {memory.get('RssFile', 0):.0f} MB; peak so far"
                                  f" {message.get('peak_rss_so_far_mb', 0):.0f} MB"))
            if phase == "authors":
                figures.append(search_bench.build_worker_figure(message))
            if phase == "serve":
                for _ in range(args.requests):
                    with urllib.request.urlopen(f"http://127.0.0.1:{message['port']}/feed.atom") as response:
                        response.read()
        worker.send({})
        peak = worker.read("rss")["peak_rss_mb"]
        figures.append(Figure("service peak RSS", peak, "MB", target=200.0, target_text="< 200 MB"))
    finally:
        worker.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    db = args.db or args.data / f"run-{args.papers}" / "paperboy.db"
    if not db.exists():
        print(f"no store at {db}: run `python -m bench --papers {args.papers}` first, or pass --db", file=sys.stderr)
        return 2
    figures = disk_figures(db) + memory_figures(db, args)
    print(render_table(args.papers, figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
