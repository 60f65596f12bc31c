"""Bounded work per request: pages paginate, caches keep a byte budget, slow builds time out, bad requests are quiet."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from feeds.publish import FeedSettings
from feeds.web import CACHE_KEY, SiteRunner, make_app
from storage.models import Paper, PaperRecord
from storage.store import Store


def records(n: int) -> list[PaperRecord]:
    return [
        PaperRecord(
            title=f"Paper {i:03d} on contrastive pools and domain shift",
            authors=("Jae-Hun Lee", f"Coauthor {i % 7}"),
            abstract=f"Abstract {i}: contrastive learning (CL) under shift. " + "word " * 200,
            category="CV" if i % 2 else "LG",
            published=date(2020, 1, 1) + timedelta(days=7 * i),
            arxiv_id=f"2001.{i:05d}",
        )
        for i in range(n)
    ]


class SlowSearch:
    """The real store, with searches that take ``delay`` seconds (a stand-in for a huge index)."""

    def __init__(self, store: Store, delay: float) -> None:
        self._store = store
        self.delay = delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def count_matches(self, query: str) -> int:
        await asyncio.sleep(self.delay)
        return await self._store.count_matches(query)


async def serve(store: Any, **options: Any) -> tuple[SiteRunner, str, web.Application]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    app = make_app(store, FeedSettings(base_url=url), check_interval=60.0, **options)
    runner = SiteRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, url, app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "limits.db")
    await store.ingest(records(120), source="bulk")
    yield store
    await store.close()


async def test_pages_paginate_and_stay_the_same_size(store: Store) -> None:
    runner, url, _ = await serve(store)
    try:
        async with aiohttp.ClientSession() as session:
            seen: set[str] = set()
            sizes = []
            next_url: str | None = url
            while next_url:
                async with session.get(next_url) as response:
                    assert response.status == 200
                    text = await response.text()
                items = re.findall(r'<h3><a href="([^"]+)"', text)
                assert len(items) <= 25
                seen.update(items)
                sizes.append(len(text))
                found = re.search(r'rel="next" href="([^"]+)"', text)
                next_url = found.group(1).replace("&amp;", "&") if found else None
            assert len(seen) == 120 and len(sizes) == 5
            # Author and search pages page the same way.
            async with session.get(url + "authors/jae-hun-lee?page=5") as response:
                assert response.status == 200
                assert len(re.findall(r"<h3><a ", await response.text())) == 20
            async with session.get(url, params={"q": "contrastive", "page": "2"}) as response:
                text = await response.text()
                assert "120 papers match" in text and "Page 2 of 5" in text
            async with session.get(url, params={"page": "401"}) as response:
                assert response.status == 400
    finally:
        await runner.cleanup()


async def test_caches_stay_within_their_byte_budget(store: Store) -> None:
    budget = 150_000
    runner, url, app = await serve(store, cache_bytes=budget)
    cache = app[CACHE_KEY]
    papers: list[Paper] = await store.latest(120)
    try:
        async with aiohttp.ClientSession() as session:
            for paper in papers:
                async with session.get(f"{url}papers/{paper.key}") as response:
                    assert response.status == 200
                assert cache.bytes <= budget
            for year in range(2020, 2023):
                for page in (1, 2):
                    async with session.get(url, params={"year": str(year), "page": str(page)}) as response:
                        assert response.status == 200
            assert 0 < cache.bytes <= budget
            assert cache.builds > len(cache)  # older pages were dropped to keep to the budget
            kept = len(cache)
            # Distinct searches are never kept, however many come.
            for i in range(60):
                async with session.get(url, params={"q": f"contrastive {i}"}) as response:
                    assert response.status == 200
            assert len(cache) == kept and cache.bytes <= budget
    finally:
        await runner.cleanup()


async def test_a_slow_build_answers_503_while_healthz_stays_quick(store: Store) -> None:
    runner, url, _ = await serve(SlowSearch(store, 0.6), time_limit=0.2, build_slots=2)
    try:
        async with aiohttp.ClientSession() as session:
            searches = [asyncio.ensure_future(session.get(url, params={"q": f"slow {i}"})) for i in range(6)]
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            async with session.get(url + "healthz") as response:
                assert response.status == 200
            assert time.perf_counter() - started < 0.5
            for future in searches:
                response = await future
                assert response.status == 503
                assert response.headers["Retry-After"] == "5"
                assert "took more than 0.2 s" in await response.text()
                response.release()
    finally:
        await runner.cleanup()


async def test_malformed_requests_log_one_line_and_echo_nothing(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    runner, url, _ = await serve(store)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    caplog.set_level(logging.DEBUG)
    try:
        for junk in (b"X-Big: " + b"\x01" * 1_000_000, b"Broken header line without colon"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n" + junk + b"\r\n\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                pass
            answer = b""
            try:
                answer = await asyncio.wait_for(reader.read(65536), 5)
            except ConnectionError:
                pass
            writer.close()
            assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:80]
            assert len(answer) < 1024 and b"\x01\x01" not in answer
    finally:
        await runner.cleanup()
    lines = [r for r in caplog.records if r.name in ("feeds._web_http", "aiohttp.server")]
    assert len(lines) == 2, [r.getMessage()[:100] for r in lines]
    for record in lines:
        assert record.name == "feeds._web_http" and record.exc_info is None
        assert "\n" not in record.getMessage() and len(record.getMessage()) < 250
