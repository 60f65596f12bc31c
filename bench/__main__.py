"""`python -m bench [--papers N] [--json]`: every figure beside its bare baseline, measured in one run."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import disk_bench, engine_bench, ingest_bench, search_bench, serve_bench
from bench.announce_bench import announcer_figures
from bench.common import DEFAULT_DATA, Figure, db_size, dir_size, ms, percentile, render_table
from bench.corpus import CorpusGenerator, corpus_file, poll_file
from bench.queries import author_mix, search_mix
from storage.search import Expansions
from storage.search_index import SearchIndex
from storage.store import Store

log = logging.getLogger("bench")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000, help="corpus size (default 100,000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder for the corpus, the store and the baselines (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out",
                        help="folder that keeps each run's table and JSON (default: bench/out)")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over each query mix")
    parser.add_argument("--serve-seconds", type=float, default=2.0, help="seconds per HTTP load round")
    parser.add_argument("--announce-messages", type=int, default=40,
                        help="papers announced to each of the emulator's channels")
    parser.add_argument("--engine-only", action="store_true",
                        help="only the search engines, on rows written straight to the papers table")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)
    if args.papers < 100:
        parser.error("--papers must be at least 100")
    return args


class Worker:
    """The service process: JSON lines out, one command line in, then a line to finish."""

    def __init__(self, db: Path, index: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.service_worker", "--db", str(db), "--index", str(index)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[1],
        )

    def send(self, payload: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(payload) + "\n")
        self.proc.stdin.flush()

    def read(self, phase: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the service worker exited ({code}) before reporting {phase!r}")
        message = json.loads(line)
        if message.get("phase") != phase:
            raise RuntimeError(f"expected {phase!r} from the service worker, got {message.get('phase')!r}")
        return message

    def close(self) -> None:
        # It closes its store after its last report: killed at once, it left the store's WAL behind.
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def run(args: argparse.Namespace) -> list[Figure]:
    data: Path = args.data
    corpus_dir = data / "corpus"
    started = time.perf_counter()
    main_file, extra_file = await asyncio.to_thread(corpus_file, corpus_dir, args.papers, args.seed)
    polled = await asyncio.to_thread(poll_file, corpus_dir, args.papers, args.seed)
    log.info("corpus ready in %.1fs", time.perf_counter() - started)
    vocab = CorpusGenerator(args.papers + 1_000, args.seed).vocab
    ws = ingest_bench.Workspace(data / f"run-{args.papers}")

    ingest = await ingest_bench.run(ws, main_file, extra_file)
    figures = list(ingest.figures)
    n = len(ingest.records)
    del ingest.records[:]
    log.info("ingest figures done at %.0fs", time.perf_counter() - started)

    searches = search_mix(vocab)
    authors = author_mix(vocab)
    fts = search_bench.BareFts5(ws.bare_fts)
    tan = search_bench.BareTantivy(ws.bare_tantivy)
    bare_authors = search_bench.BareAuthors(ws.db)
    # Opened for reading only (no writer is taken until a sync), beside the bare engines.
    engine = SearchIndex.open(ws.index)
    expansions = await _expansions(ws.db)
    try:
        timed = search_bench.time_interleaved(searches, {
            "fts": fts.search,
            "tantivy": tan.search,
            "engine": lambda q: engine.search(q, 10, 0, expansions),
        }, args.rounds)
        fts_samples, tan_samples = timed["fts"], timed["tantivy"]
        author_base = search_bench.time_bare(authors, bare_authors.lookup, args.rounds)
    finally:
        fts.close()
        bare_authors.close()
        engine.close()
        del tan
    figures += search_bench.search_figures(
        timed["engine"], fts_samples, tan_samples, "search engine alone (SearchIndex.search, ids)",
        headline=False, compare_common=True,
    )
    log.info("bare searches done at %.0fs", time.perf_counter() - started)

    # Measured before the service worker, whose poll adds 1,000 papers.
    store_bytes = db_size(ws.db)
    index_bytes = dir_size(ws.index)
    per_paper = (store_bytes + index_bytes) / n
    beyond = (store_bytes + index_bytes - ingest.text_bytes) / n
    figures.append(Figure("disk per paper (database + index)", per_paper, "B",
                          {"bare FTS5 (text + index)": db_size(ws.bare_fts) / n,
                           "bare Tantivy (index only)": dir_size(ws.bare_tantivy) / n},
                          note=f"db {store_bytes / n:,.0f} B + index {index_bytes / n:,.0f} B"))
    figures.append(Figure("disk per paper beyond the text", beyond, "B", target=1500.0,
                          target_text="< 1,500 B", note=f"text {ingest.text_bytes / n:,.0f} B/paper"))
    figures += disk_bench.byte_figures(ws.db, ws.index, n)

    worker = Worker(ws.db, ws.index)
    try:
        worker.send({"rounds": args.rounds, "search": searches, "authors": authors, "poll_file": str(polled)})
        opened = worker.read("open")
        found = worker.read("search")
        headline = "indexed" not in found
        figures += search_bench.search_figures(
            found["store"], fts_samples, tan_samples,
            "search (Store.search)" if headline else "search (Store.search as shipped, FTS5)",
            headline=headline,
        )
        if not headline:
            figures += search_bench.search_figures(
                found["indexed"], fts_samples, tan_samples, "search (SearchIndex + rows, to wire)",
                headline=True,
            )
        figures.append(Figure("search index open + sync in the service", opened["seconds"], "s",
                              note="Store wired" if opened["wired"] else "SearchIndex beside the store"))
        authored = worker.read("authors")
        figures += search_bench.author_figures(authored["samples"], authored["build_seconds"], author_base)
        figures.append(search_bench.build_worker_figure(authored))
        feed = worker.read("feed")
        feed_ms = ms(percentile(feed["samples"]["feed"], 50))
        figures.append(Figure("feed build (latest 50, Atom+RSS+JSON) p50", feed_ms, "ms"))
        serve = worker.read("serve")
        app_rps, bare_rps = await serve_bench.compare(serve["port"], serve["bare_port"], "/feed.atom",
                                                      args.serve_seconds)
        figures.append(Figure("cached feed serving", app_rps, "req/s", {"bare aiohttp handler": bare_rps},
                              target=0.8 * bare_rps, higher_is_better=True,
                              target_text=f">= {0.8 * bare_rps:,.0f} (0.8x bare)",
                              note=f"{serve['bytes']:,} B Atom, 8 keep-alive connections"))
        worker.send("done")
        rss = worker.read("rss")["peak_rss_mb"]
        poll = worker.read("poll")
    finally:
        worker.close()
    phases = {"open": opened, "search": found, "authors": authored, "feed": feed, "serve": serve}
    # Per phase: the peak so far, and what is resident at its end (anonymous memory, and mapped files
    # such as the search index, which the kernel can drop and which other processes share).
    steps = ", ".join(
        f"{k} {v['peak_rss_so_far_mb']:.0f}"
        f" (anon {v.get('memory_mb', {}).get('RssAnon', float('nan')):.0f},"
        f" files {v.get('memory_mb', {}).get('RssFile', float('nan')):.0f})"
        for k, v in phases.items()
    )
    figures.append(Figure("service peak RSS", rss, "MB", target=200.0, target_text="< 200 MB",
                          note=f"VmHWM of the process that searched, looked up authors and served; after {steps}"))
    after = poll["memory_mb"]
    figures.append(Figure("service peak RSS once it has polled", poll["peak_rss_mb"], "MB", target=200.0,
                          target_text="< 200 MB",
                          note=f"the same process then polled {poll['new']:,} new papers as its poll job does,"
                          f" read and stored by {'a worker process' if poll['in_worker'] else 'itself'}"
                          f" ({poll['seconds']:.1f} s; the worker's own peak {poll['worker_peak_mb']:.0f} MB,"
                          f" its topic helper's {poll.get('helper_peak_mb', 0.0):.0f} MB);"
                          f" resident after: anon {after.get('RssAnon', float('nan')):.0f},"
                          f" files {after.get('RssFile', float('nan')):.0f}"))
    figures += await announcer_figures(args)

    figures.append(Figure("bench wall time", time.perf_counter() - started, "s"))
    return figures


async def _expansions(db: Path) -> Expansions:
    async with await Store.open(db) as store:
        return await store.expansions()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s")
    if args.engine_only:
        started = time.perf_counter()
        figures = engine_bench.run(args.data, args.papers, args.seed, args.rounds)
        figures.append(Figure("bench wall time", time.perf_counter() - started, "s"))
    else:
        figures = asyncio.run(run(args))
    report = json.dumps({"papers": args.papers, "figures": [f.as_json() for f in figures]}, indent=2)
    table = render_table(args.papers, figures)
    _save(args, report, table)
    print(report if args.json else table)
    return 0


def _save(args: argparse.Namespace, report: str, table: str) -> None:
    """Keep each run's figures in bench/out/ (git-ignored) beside the printed copy."""
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        stem = f"bench-{args.papers}{'-engine' if args.engine_only else ''}-{time.strftime('%Y%m%dT%H%M%S')}"
        (out / f"{stem}.json").write_text(report + "\n", encoding="utf-8")
        (out / f"{stem}.txt").write_text(table + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not keep the figures in %s: %s", out, exc)


if __name__ == "__main__":
    raise SystemExit(main())
