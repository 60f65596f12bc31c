"""Load check of the web site on a big store: distinct searches against memory, and /healthz under a flood.

`python -m bench.web_load [--papers 50000] [--queries 10000]` builds (once) a synthetic store,
starts the site in its own process, then:

1. sends ``--queries`` distinct searches (``/?q=``, 20 at a time) and reads the server's peak RSS;
2. runs 100 concurrent distinct searches and 1,000 concurrent feed requests while timing
   ``/healthz`` every 20 ms, and prints its median and 95th percentile.

It prints figures; it asserts nothing (limits are for tests, figures for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import DEFAULT_DATA, peak_rss_mb, percentile
from bench.corpus import CorpusGenerator

log = logging.getLogger("bench.web_load")


async def build_store(db: Path, papers: int, seed: int) -> None:
    """A store of ``papers`` synthetic papers, made once and kept beside the other bench data."""
    from storage.store import Store

    async with await Store.open(db) as store:
        have = await store.count_papers()
        if have >= papers:
            return
        generator = CorpusGenerator(papers, seed)
        records = iter(generator)
        started = time.perf_counter()
        while batch := list(itertools.islice(records, 5_000)):
            await store.ingest(batch, source="synthetic")
            log.info("stored %d papers (%.0f s)", await store.count_papers(), time.perf_counter() - started)


async def serve(db: Path) -> None:
    """The site alone in this process; prints its port, stops when stdin closes."""
    from aiohttp import web

    from feeds.publish import FeedSettings
    from feeds.web import SiteRunner, make_app
    from storage.store import Store

    async with await Store.open(db) as store:
        async def health() -> dict[str, object]:
            return {"data_version": await store.data_version()}

        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = make_app(store, FeedSettings(base_url=f"http://127.0.0.1:{port}/"), health=health)
        runner = SiteRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=4096).start()
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()


def _queries(vocabulary: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        out.add(" ".join(rng.sample(vocabulary, rng.choice((1, 2, 2, 3)))))
    return sorted(out)


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> int:
    async with session.get(url, params=params or None) as response:
        await response.read()
        return response.status


async def distinct_searches(base: str, queries: list[str], concurrency: int = 20) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    pending = iter(queries)
    started = time.perf_counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        for query in pending:
            status = await _get(session, base, q=query)
            statuses[status] = statuses.get(status, 0) + 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


async def flood(base: str, queries: list[str], feeds: list[str]) -> tuple[list[float], dict[int, int], float]:
    """100 concurrent searches and 1,000 concurrent feed requests; /healthz timed meanwhile."""
    statuses: dict[int, int] = {}
    timings: list[float] = []
    done = asyncio.Event()

    async def count(coro: object) -> None:
        status = await coro  # type: ignore[misc]
        statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as load, \
            aiohttp.ClientSession() as probe:
        async def sample() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await _get(probe, base + "healthz")
                timings.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        work = [count(_get(load, base, q=q)) for q in queries[:100]]
        work += [count(_get(load, base + feeds[i % len(feeds)])) for i in range(1_000)]
        await asyncio.gather(*work)
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
    return timings, statuses, elapsed


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_load", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        await serve(args.serve)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args.data.mkdir(parents=True, exist_ok=True)
    db = args.data / f"web-load-{args.papers}-s{args.seed}.db"
    started = time.perf_counter()
    await build_store(db, args.papers, args.seed)
    log.info("store ready in %.0f s: %s", time.perf_counter() - started, db)
    vocabulary = CorpusGenerator(min(args.papers, 5_000), args.seed).vocab.words[:4_000]
    queries = _queries(vocabulary, args.queries + 100, args.seed)
    proc = subprocess.Popen(  # noqa: ASYNC220 - one server process, started before any load
        [sys.executable, "-m", "bench.web_load", "--serve", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        base, pid = f"http://127.0.0.1:{hello['port']}/", int(hello["pid"])
        async with aiohttp.ClientSession() as session:
            await _get(session, base)
            async with session.get(base + "authors/") as response:
                text = await response.text()
        import re

        authors = re.findall(r'href="[^"]*/(authors/[^"/.]+)\.atom"', text)[:50]
        feeds = ["feed.atom", "feed.rss", "feed.json"] + [f"{a}.atom" for a in authors]
        rss_start = peak_rss_mb(pid)
        seconds, statuses = await distinct_searches(base, queries[100:])
        rss_after = peak_rss_mb(pid)
        timings, flood_statuses, flood_seconds = await flood(base, queries[:100], feeds)
        rss_end = peak_rss_mb(pid)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(30)
    figures = {
        "papers": args.papers,
        "distinct_searches": len(queries) - 100,
        "searches_per_s": round((len(queries) - 100) / seconds, 1),
        "search_statuses": statuses,
        "peak_rss_mb_before": round(rss_start, 1),
        "peak_rss_mb_after_searches": round(rss_after, 1),
        "flood_requests": 1_100,
        "flood_seconds": round(flood_seconds, 2),
        "flood_statuses": flood_statuses,
        "healthz_samples": len(timings),
        "healthz_median_ms": round(percentile(timings, 50) * 1000, 1),
        "healthz_p95_ms": round(percentile(timings, 95) * 1000, 1),
        "peak_rss_mb_end": round(rss_end, 1),
    }
    for name, value in figures.items():
        print(f"{name:>28}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
