"""Tests for the Fetcher against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from feeds.sources.fetch import DEFAULT_USER_AGENT, Fetcher, FetchResult
from storage.errors import FetchError

RESOURCES = Path(__file__).parent / "resources" / "sources"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Loopback:
    """A local HTTP server whose routes each test sets, recording every request it gets."""

    server: TestServer
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def hits(self, path: str) -> int:
        return sum(1 for p, _, _ in self.seen if p == path)


@pytest.fixture
async def loop_server() -> AsyncIterator[Loopback]:
    holder: dict[str, Loopback] = {}

    async def dispatch(request: web.Request) -> web.StreamResponse:
        box = holder["box"]
        box.seen.append((request.path, dict(request.headers), time.monotonic()))
        handler = box.routes.get(request.path)
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", dispatch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder["box"] = Loopback(server)
    try:
        yield holder["box"]
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Sleeps:
    """An injected sleep that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fixed(body: bytes, **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    return handler


async def test_user_agent_and_content_hash(loop_server: Loopback, session) -> None:
    body = (RESOURCES / "lab_news.rss").read_bytes()
    loop_server.routes["/feed"] = fixed(body, ETag='"v1"', **{"Last-Modified": "Mon, 06 May 2024 00:00:00 GMT"})
    result = await Fetcher(session).get(loop_server.url("/feed"))
    assert result == FetchResult(
        status=200,
        body=body,
        etag='"v1"',
        last_modified="Mon, 06 May 2024 00:00:00 GMT",
        content_hash=hashlib.sha256(body).hexdigest(),
        not_modified=False,
    )
    headers = loop_server.seen[0][1]
    assert headers["User-Agent"] == DEFAULT_USER_AGENT
    assert "paperboy" in headers["User-Agent"]
    assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


async def test_conditional_get_sends_validators_and_honours_304(loop_server, session) -> None:
    body = b"<rss version='2.0'><channel/></rss>"
    stamp = "Tue, 07 May 2024 10:00:00 GMT"

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"abc"':
            return web.Response(status=304, headers={"ETag": '"abc"'})
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.Response(body=body, headers={"ETag": '"abc"', "Last-Modified": stamp})

    loop_server.routes["/feed"] = handler
    fetcher = Fetcher(session)
    first = await fetcher.get(loop_server.url("/feed"))
    assert first.status == 200 and not first.not_modified
    by_etag = await fetcher.get(
        loop_server.url("/feed"), etag=first.etag, previous_hash=first.content_hash
    )
    assert by_etag.status == 304
    assert by_etag.not_modified and by_etag.body is None
    assert by_etag.etag == '"abc"' and by_etag.content_hash == first.content_hash
    assert loop_server.seen[1][1]["If-None-Match"] == '"abc"'
    by_date = await fetcher.get(loop_server.url("/feed"), last_modified=stamp)
    assert by_date.status == 304 and by_date.not_modified
    assert by_date.last_modified == stamp  # kept from the request when the 304 omits it
    assert loop_server.seen[2][1]["If-Modified-Since"] == stamp


async def test_identical_body_is_not_modified_by_hash(loop_server, session) -> None:
    bodies = [b"same body", b"same body", b"new body"]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies.pop(0))

    loop_server.routes["/x"] = handler
    fetcher = Fetcher(session)
    first = await fetcher.get(loop_server.url("/x"))
    again = await fetcher.get(loop_server.url("/x"), previous_hash=first.content_hash)
    assert again.status == 200 and again.not_modified is True
    changed = await fetcher.get(loop_server.url("/x"), previous_hash=first.content_hash)
    assert changed.not_modified is False and changed.body == b"new body"


async def test_5xx_is_retried_with_growing_backoff(loop_server, session) -> None:
    statuses = [500, 502, 200]

    async def handler(request: web.Request) -> web.Response:
        status = statuses.pop(0)
        return web.Response(status=status, body=b"ok" if status == 200 else b"oops")

    loop_server.routes["/flaky"] = handler
    sleeps = Sleeps()
    fetcher = Fetcher(session, retries=3, backoff=1.0, sleep=sleeps)
    result = await fetcher.get(loop_server.url("/flaky"))
    assert result.status == 200 and result.body == b"ok"
    assert loop_server.hits("/flaky") == 3
    assert fetcher.requests == 3
    assert len(sleeps.calls) == 2
    first, second = sleeps.calls
    assert 1.0 <= first <= 1.1 and 2.0 <= second <= 2.2  # back-off doubles, small jitter


async def test_persistent_5xx_gives_up_with_a_clear_error(loop_server, session) -> None:
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, reason="Service Unavailable", headers={"Retry-After": "7"})

    loop_server.routes["/down"] = down
    sleeps = Sleeps()
    url = loop_server.url("/down")
    with pytest.raises(FetchError) as caught:
        await Fetcher(session, retries=2, backoff=0.5, sleep=sleeps).get(url)
    message = str(caught.value)
    assert url in message and "503" in message and "3 attempts" in message
    assert loop_server.hits("/down") == 3
    assert sleeps.calls and all(s >= 7 for s in sleeps.calls)  # Retry-After honoured


async def test_4xx_is_not_retried(loop_server, session) -> None:
    sleeps = Sleeps()
    url = loop_server.url("/missing")
    with pytest.raises(FetchError, match="404") as caught:
        await Fetcher(session, sleep=sleeps).get(url)
    assert url in str(caught.value)
    assert loop_server.hits("/missing") == 1 and sleeps.calls == []


async def test_timeout_is_retried_then_reported(loop_server, session) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=b"late")

    loop_server.routes["/slow"] = slow
    sleeps = Sleeps()
    url = loop_server.url("/slow")
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as caught:
        await Fetcher(session, timeout=0.2, retries=1, sleep=sleeps).get(url)
    assert time.monotonic() - started < 1.5
    assert url in str(caught.value)
    assert loop_server.hits("/slow") == 2 and len(sleeps.calls) == 1


async def test_connection_refused_is_a_fetch_error(session) -> None:
    # Bind and release a port so nothing listens on it.
    probe = TestServer(web.Application(), host="127.0.0.1")
    await probe.start_server()
    url = str(probe.make_url("/gone"))
    await probe.close()
    sleeps = Sleeps()
    with pytest.raises(FetchError, match="connection failed") as caught:
        await Fetcher(session, retries=1, sleep=sleeps).get(url)
    assert url in str(caught.value) and len(sleeps.calls) == 1


async def test_declared_oversize_body_is_refused(loop_server, session) -> None:
    loop_server.routes["/big"] = fixed(b"x" * 5000)
    url = loop_server.url("/big")
    with pytest.raises(FetchError) as caught:
        await Fetcher(session, max_bytes=1000).get(url)
    assert "1000-byte limit" in str(caught.value) and url in str(caught.value)


async def test_streamed_oversize_body_is_aborted(loop_server, session) -> None:
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to check up front
        await response.prepare(request)
        try:
            for _ in range(200):
                await response.write(b"y" * 4096)
                sent.append(4096)
                await asyncio.sleep(0)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    loop_server.routes["/stream"] = endless
    url = loop_server.url("/stream")
    with pytest.raises(FetchError, match="passed the 10000-byte limit") as caught:
        await Fetcher(session, max_bytes=10_000).get(url)
    assert url in str(caught.value)


async def test_pacing_spaces_requests_to_the_same_host(loop_server, session) -> None:
    loop_server.routes["/page"] = fixed(b"page")
    fetcher = Fetcher(session, min_interval={"127.0.0.1": 0.05})
    for _ in range(3):
        await fetcher.get(loop_server.url("/page"))
    times = [t for _, _, t in loop_server.seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 50 ms asked; stamps are taken server-side, so a busy machine shaves a few ms.
    assert len(gaps) == 2 and min(gaps) >= 0.035, gaps


async def test_pacing_holds_for_concurrent_requests(loop_server, session) -> None:
    loop_server.routes["/page"] = fixed(b"page")
    fetcher = Fetcher(session, min_interval={"127.0.0.1": 0.05})
    await asyncio.gather(*(fetcher.get(loop_server.url("/page")) for _ in range(3)))
    times = sorted(t for _, _, t in loop_server.seen)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.035


async def test_pacing_uses_the_injected_clock(loop_server, session) -> None:
    now = [100.0]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    loop_server.routes["/page"] = fixed(b"page")
    fetcher = Fetcher(
        session, min_interval={"127.0.0.1": 3.0}, clock=lambda: now[0], sleep=fake_sleep
    )
    await fetcher.get(loop_server.url("/page"))
    now[0] += 1.0  # one second passes between our calls
    await fetcher.get(loop_server.url("/page"))
    assert sleeps == [pytest.approx(2.0)]


def test_arxiv_is_paced_by_default_and_stays_paced_when_others_are_added() -> None:
    fetcher = Fetcher(session=None)  # type: ignore[arg-type]  # only the settings are read
    assert fetcher.min_interval["export.arxiv.org"] >= 3.0
    tuned = Fetcher(session=None, min_interval={"lab.example.org": 1.0})  # type: ignore[arg-type]
    assert tuned.min_interval["export.arxiv.org"] >= 3.0
    assert tuned.min_interval["lab.example.org"] == 1.0


async def test_local_files_by_path_and_file_url(tmp_path: Path, session) -> None:
    path = tmp_path / "papers.bib"
    path.write_bytes(b"@misc{k, title={T}}")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    fetcher = Fetcher(session)
    by_path = await fetcher.get(str(path))
    by_url = await fetcher.get(path.as_uri())
    assert by_path.body == by_url.body == b"@misc{k, title={T}}"
    assert by_path.last_modified == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert by_path.content_hash == hashlib.sha256(b"@misc{k, title={T}}").hexdigest()
    same = await fetcher.get(str(path), previous_hash=by_path.content_hash)
    assert same.not_modified is True
    path.write_bytes(b"@misc{k, title={Changed}}")
    changed = await fetcher.get(str(path), previous_hash=by_path.content_hash)
    assert changed.not_modified is False


async def test_local_file_errors_name_the_path(tmp_path: Path, session) -> None:
    fetcher = Fetcher(session, max_bytes=10)
    with pytest.raises(FetchError, match="no such file") as caught:
        await fetcher.get(str(tmp_path / "absent.txt"))
    assert "absent.txt" in str(caught.value)
    big = tmp_path / "big.txt"
    big.write_bytes(b"z" * 11)
    with pytest.raises(FetchError, match="10-byte limit"):
        await fetcher.get(str(big))
    with pytest.raises(FetchError, match="directory"):
        await fetcher.get(str(tmp_path))


async def test_unsupported_scheme(session) -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        await Fetcher(session).get("ftp://example.org/feed.xml")
