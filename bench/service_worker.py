"""The service side of the benchmark, run as its own process so its peak RSS is the service's.

It opens the store as ``paperboy run`` would, times the search and author
mixes and the feed build in-process, then serves the feed app and a bare
aiohttp handler returning the same bytes while the parent drives both over
loopback. It speaks JSON lines: one result line per phase on stdout, and it
waits for a line on stdin before reporting its peak RSS. Given a file to poll, it
then stores that file's new papers as the service's poller does, and reports its
peak again: the service that ingests on a schedule is the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import peak_rss_mb
from bench.ingest_bench import wired_index
from feeds.publish import FeedSettings, FeedSpec, render_all
from feeds.sources.listing import parse_listing_file
from feeds.web import make_app
from storage.ingest_worker import WorkerIngest
from storage.models import Paper
from storage.search_index import SearchIndex
from storage.store import Store

log = logging.getLogger(__name__)


def _memory() -> dict[str, float]:
    """Resident memory now, in MB, by kind: anonymous (Python's heap, SQLite's caches, Tantivy's own
    allocations) and file-backed (mapped index files and libraries, which the kernel may drop)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[name] = int(value.split()[0]) / 1024.0
    except OSError:
        pass
    return out


def _emit(payload: dict[str, Any]) -> None:
    payload["peak_rss_so_far_mb"] = peak_rss_mb()  # which phase raises the peak
    payload["memory_mb"] = _memory()  # and of what it is made
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _time_mix(
    mix: list[list[str]], call: Callable[[str], Awaitable[object]], rounds: int
) -> dict[str, list[float]]:
    """Seconds per call, keyed by class; one untimed warm-up pass first."""
    for _, text in mix:
        await call(text)
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for cls, text in mix:
            start = time.perf_counter()
            await call(text)
            samples.setdefault(cls, []).append(time.perf_counter() - start)
    return samples


class IndexedSearch:
    """What Store.search does once the derived index is wired: ids from Tantivy, rows from SQLite."""

    def __init__(self, store: Store, index: SearchIndex) -> None:
        self.store = store
        self.index = index

    async def search(self, text: str, limit: int = 10, offset: int = 0) -> list[Paper]:
        expansions = await self.store.expansions()
        hits = self.index.search(text, limit, offset, expansions)
        if not hits:
            return []
        ids = [paper_id for paper_id, _ in hits]
        marks = ",".join("?" * len(ids))
        papers = await self.store._papers(f"WHERE p.id IN ({marks})", ids)
        rank = {paper_id: i for i, paper_id in enumerate(ids)}
        return sorted(papers, key=lambda p: rank[p.id])


async def run(args: argparse.Namespace) -> None:
    store = await Store.open(args.db, hand_back_cache=True)  # as paperboy/service.py opens it
    wired = wired_index(store) is not None
    index: SearchIndex | None = None
    try:
        command = json.loads(sys.stdin.readline())
        start = time.perf_counter()
        if not wired:
            index = SearchIndex.open(args.index)
            conn = sqlite3.connect(args.db, isolation_level=None)
            try:
                sync = index.sync(conn, verify=True)
            finally:
                conn.close()
        open_s = time.perf_counter() - start
        _emit({"phase": "open", "seconds": open_s, "wired": wired,
               "sync": repr(sync) if not wired else None})

        rounds = int(command["rounds"])
        results: dict[str, Any] = {"phase": "search"}
        results["store"] = await _time_mix(command["search"], lambda q: store.search(q, 10), rounds)
        if index is not None:
            indexed = IndexedSearch(store, index)
            results["indexed"] = await _time_mix(command["search"], lambda q: indexed.search(q, 10), rounds)
        _emit(results)
        if command.get("search_only"):
            await asyncio.to_thread(sys.stdin.readline)
            _emit({"phase": "rss", "peak_rss_mb": peak_rss_mb()})
            return

        start = time.perf_counter()
        await store.match_authors("warm up", 25)
        build_s = time.perf_counter() - start
        authors = await _time_mix(command["authors"], lambda q: store.match_authors(q, 25), rounds)
        # A big store builds the author index in a worker process (storage/author_build.py): its
        # peak is its own, reported beside the service's.
        built = store.author_index_build
        worker_mb = built.worker_peak_mb if built and built.worker_peak_mb is not None else 0.0
        _emit({"phase": "authors", "build_seconds": build_s, "samples": authors, "build_worker_peak_mb": worker_mb})

        settings = FeedSettings(base_url="http://127.0.0.1/", entries=50)
        spec = FeedSpec("feed", settings.title, settings.subtitle)

        async def build() -> None:
            render_all(await store.latest(settings.entries), spec, settings)

        feed = await _time_mix([["feed", "x"]], lambda _: build(), max(rounds * 4, 10))
        _emit({"phase": "feed", "samples": feed})

        app = make_app(store, settings, check_interval=3600.0)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        body, headers = await _fetch(port, "/feed.atom")

        async def bare(_: web.Request) -> web.Response:
            return web.Response(body=body, headers=headers)

        bare_app = web.Application()
        bare_app.router.add_get("/feed.atom", bare)
        bare_runner = web.AppRunner(bare_app, access_log=None)
        await bare_runner.setup()
        bare_site = web.TCPSite(bare_runner, "127.0.0.1", 0)
        await bare_site.start()
        _emit({"phase": "serve", "port": port, "bare_port": bare_runner.addresses[0][1],
               "bytes": len(body)})
        await asyncio.to_thread(sys.stdin.readline)
        await runner.cleanup()
        await bare_runner.cleanup()
        _emit({"phase": "rss", "peak_rss_mb": peak_rss_mb()})
        if command.get("poll_file"):
            _emit(await _poll(store, Path(command["poll_file"])))
    finally:
        if index is not None:
            index.close()
        await store.close()


async def _poll(store: Store, path: Path) -> dict[str, Any]:
    """Store a listing's new papers and link their topics, as the service's poll job does (paperboy/jobs.py).

    That is in a worker process that parses the file too (storage/ingest_worker.py): its peak
    is reported beside the service's.
    """
    start = time.perf_counter()
    run = await WorkerIngest(store).ingest_parsed(partial(parse_listing_file, path), source="bench-poll",
                                                  kind="listing", location=str(path))
    return {"phase": "poll", "new": run.report.new, "seconds": time.perf_counter() - start,
            "peak_rss_mb": peak_rss_mb(), "in_worker": run.in_worker, "worker_peak_mb": run.peak_rss / 2**20,
            "helper_peak_mb": run.helper_peak_rss / 2**20}


async def _fetch(port: int, path: str) -> tuple[bytes, dict[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() in ("content-type", "etag", "last-modified", "cache-control", "vary"):
            headers[name] = value.strip()
    return body, headers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--index", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
