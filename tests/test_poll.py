"""Tests for polling each source kind end to end: loopback HTTP or real files, real parsers."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from feeds.sources.fetch import Fetcher
from feeds.sources.poll import SourceSpec, poll, validate_spec
from storage.errors import ConfigError, FetchError, SourceFormatError

RESOURCES = Path(__file__).parent / "resources" / "sources"
PAGES = {0: "arxiv_page1.xml", 3: "arxiv_page2.xml", 6: "arxiv_page3.xml"}
PACE = 0.05

LISTING = """\
CVFeb 23Code
Localized Concept Erasure in Text-to-Image Diffusion Models via High-Level Representation \
MisdirectionUichan Lee, Jeonghyeon Kim, Sangheum Hwang
We erase concepts from diffusion models by misdirecting high-level representations. Code is at \
https://github.com/daintlab/concept-erasure .
LGJul 3, 2020
Confidence-Aware Learning for Deep Neural NetworksJooyoung Moon, Jihyo Kim, Younghak Shin et al.
We train networks whose confidence ranks correct predictions above wrong ones, so an \
overconfident answer can be caught.
"""


class FakeArxiv:
    """Answers /api/query like arXiv's API, from the hand-written page fixtures."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], float]] = []
        self.mode = "pages"

    async def query(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.query), time.monotonic()))
        if self.mode == "error":
            return web.Response(
                status=400,
                body=(RESOURCES / "arxiv_error.xml").read_bytes(),
                content_type="application/atom+xml",
            )
        if self.mode == "html":
            return web.Response(
                text="<html><body>Rate limited</body></html>", content_type="text/html"
            )
        name = PAGES.get(int(request.query["start"]))
        if name is None:
            raise web.HTTPBadRequest()
        return web.Response(
            body=(RESOURCES / name).read_bytes(), content_type="application/atom+xml"
        )


class Files:
    """Static files with ETag support, as a lab web server would serve its feed."""

    def __init__(self) -> None:
        self.hits = 0

    async def feed(self, request: web.Request) -> web.Response:
        self.hits += 1
        if request.headers.get("If-None-Match") == '"news-1"':
            return web.Response(status=304, headers={"ETag": '"news-1"'})
        return web.Response(
            body=(RESOURCES / "lab_news.rss").read_bytes(),
            content_type="application/rss+xml",
            headers={"ETag": '"news-1"'},
        )


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, FakeArxiv, Files]]:
    arxiv, files = FakeArxiv(), Files()
    app = web.Application()
    app.router.add_get("/api/query", arxiv.query)
    app.router.add_get("/news.rss", files.feed)
    app.router.add_get("/broken.html", _moved_page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), arxiv, files
    finally:
        await server.close()


async def _moved_page(request: web.Request) -> web.Response:
    return web.Response(body=(RESOURCES / "not_a_feed.html").read_bytes(), content_type="text/html")


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with aiohttp.ClientSession() as session:
        yield Fetcher(session, min_interval={"127.0.0.1": PACE}, retries=0)


def arxiv_spec(base: str, **kw) -> SourceSpec:
    return SourceSpec(
        name="attention",
        kind="arxiv",
        url=f"{base}/api/query",
        search_query="cat:cs.CV AND abs:attention",
        max_results=3,
        **kw,
    )


async def test_arxiv_walks_every_page_politely(site, fetcher) -> None:
    base, arxiv, _ = site
    outcome = await poll(arxiv_spec(base), fetcher)
    assert outcome.pages == 3 and not outcome.not_modified
    assert outcome.result is not None
    ids = [r.arxiv_id for r in outcome.result.records]
    assert ids == [
        "2405.01234", "2405.00987", "2404.11111", "hep-th/9711200", "math/0211159", "2403.05555",
    ]
    [problem] = outcome.result.problems
    assert problem.field == "title" and problem.source and "start=0" in problem.source
    starts = [q["start"] for q, _ in arxiv.requests]
    assert starts == ["0", "3", "6"]
    first = arxiv.requests[0][0]
    assert first["search_query"] == "cat:cs.CV AND abs:attention"
    assert (first["max_results"], first["sortBy"], first["sortOrder"]) == (
        "3", "submittedDate", "descending",
    )
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(arxiv.requests)]
    # Server-side stamps: on a starved machine the first request can arrive tens of ms late and
    # shorten the next gap, but the walk as a whole still took the pacing. Unpaced, the three
    # requests arrive within 10 ms of each other.
    assert sum(gaps) >= PACE * len(gaps) * 0.5, gaps
    assert outcome.content_hash is not None


async def test_arxiv_stops_at_max_pages(site, fetcher) -> None:
    base, arxiv, _ = site
    outcome = await poll(arxiv_spec(base, max_pages=2), fetcher)
    assert outcome.pages == 2 and len(arxiv.requests) == 2
    assert outcome.result is not None and len(outcome.result.records) == 5


async def test_arxiv_unchanged_first_page_skips_the_rest(site, fetcher) -> None:
    base, arxiv, _ = site
    first = await poll(arxiv_spec(base), fetcher)
    arxiv.requests.clear()
    again = await poll(arxiv_spec(base), fetcher, previous_hash=first.content_hash)
    assert again.not_modified and again.result is None and again.pages == 1
    assert len(arxiv.requests) == 1


async def test_arxiv_error_feed_becomes_a_format_error(site, fetcher) -> None:
    base, arxiv, _ = site
    arxiv.mode = "error"
    with pytest.raises(SourceFormatError, match=r"incorrect id format for 2304\.0079") as caught:
        await poll(arxiv_spec(base), fetcher)
    assert "HTTP 400" in str(caught.value)


async def test_arxiv_html_answer_is_a_format_error(site, fetcher) -> None:
    base, arxiv, _ = site
    arxiv.mode = "html"
    with pytest.raises(SourceFormatError, match="not an Atom feed") as caught:
        await poll(arxiv_spec(base), fetcher)
    assert "/api/query" in str(caught.value)


async def test_feed_poll_then_304(site, fetcher) -> None:
    base, _, files = site
    spec = SourceSpec(name="lab news", kind="feed", url=f"{base}/news.rss")
    outcome = await poll(spec, fetcher)
    assert outcome.result is not None and len(outcome.result.records) == 3
    assert outcome.etag == '"news-1"'
    [problem] = outcome.result.problems
    assert problem.source == f"{base}/news.rss"
    again = await poll(spec, fetcher, etag=outcome.etag, previous_hash=outcome.content_hash)
    assert again.not_modified and again.result is None
    assert again.content_hash == outcome.content_hash
    assert files.hits == 2


async def test_feed_that_is_an_html_page(site, fetcher) -> None:
    base, _, _ = site
    spec = SourceSpec(name="moved", kind="feed", url=f"{base}/broken.html")
    with pytest.raises(SourceFormatError, match=r"broken\.html"):
        await poll(spec, fetcher)


async def test_feed_404_is_a_fetch_error(site, fetcher) -> None:
    base, _, _ = site
    with pytest.raises(FetchError, match="404"):
        await poll(SourceSpec(name="gone", kind="feed", url=f"{base}/nothing.rss"), fetcher)


async def test_bibtex_file_poll_and_hash_skip(tmp_path: Path, fetcher) -> None:
    path = tmp_path / "lab.bib"
    path.write_bytes((RESOURCES / "lab.bib").read_bytes())
    spec = SourceSpec(name="bib", kind="bibtex", url=str(path))
    outcome = await poll(spec, fetcher)
    assert outcome.result is not None and len(outcome.result.records) == 7
    assert {p.source for p in outcome.result.problems} == {str(path)}
    again = await poll(spec, fetcher, previous_hash=outcome.content_hash)
    assert again.not_modified and again.result is None


async def test_bibtex_in_latin1_is_still_read(tmp_path: Path, fetcher) -> None:
    path = tmp_path / "old.bib"
    text = "@misc{k, title={Caf\u00e9 au lait}, author={Dupont, Ren\u00e9}}"
    path.write_bytes(text.encode("latin-1"))
    outcome = await poll(SourceSpec(name="old", kind="bibtex", url=path.as_uri()), fetcher)
    assert outcome.result is not None
    assert outcome.result.records[0].title == "Café au lait"
    assert outcome.result.records[0].authors == ("René Dupont",)


@pytest.mark.parametrize(
    ("mtime", "expected_year"),
    [(datetime(2025, 6, 1, tzinfo=UTC), 2025), (datetime(2025, 1, 10, tzinfo=UTC), 2024)],
)
async def test_listing_file_year_comes_from_its_mtime(
    tmp_path: Path, fetcher, mtime: datetime, expected_year: int
) -> None:
    path = tmp_path / "profile.txt"
    path.write_text(LISTING, encoding="utf-8")
    stamp = mtime.timestamp()
    os.utime(path, (stamp, stamp))
    spec = SourceSpec(name="profile", kind="listing", url=str(path), owner="Sangheum Hwang")
    outcome = await poll(spec, fetcher)
    assert outcome.result is not None
    erasure, confidence = outcome.result.records
    assert erasure.published == date(expected_year, 2, 23)
    assert erasure.authors == ("Uichan Lee", "Jeonghyeon Kim", "Sangheum Hwang")
    assert confidence.authors_truncated is True
    assert outcome.last_modified is not None


async def test_listing_as_of_given_wins(tmp_path: Path, fetcher) -> None:
    path = tmp_path / "profile.txt"
    path.write_text(LISTING, encoding="utf-8")
    spec = SourceSpec(name="profile", kind="listing", url=str(path))
    outcome = await poll(spec, fetcher, as_of=date(2023, 12, 31))
    assert outcome.result is not None
    assert outcome.result.records[0].published == date(2023, 2, 23)


async def test_binary_listing_is_a_format_error(tmp_path: Path, fetcher) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(SourceFormatError, match=r"photo\.txt"):
        await poll(SourceSpec(name="p", kind="listing", url=str(path)), fetcher)


async def test_missing_listing_file_is_a_fetch_error(tmp_path: Path, fetcher) -> None:
    with pytest.raises(FetchError, match="no such file"):
        await poll(SourceSpec(name="p", kind="listing", url=str(tmp_path / "nope.txt")), fetcher)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (SourceSpec(name="s", kind="podcast", url="x"), "unknown kind 'podcast'"),
        (SourceSpec(name="s", kind="arxiv"), "needs a search_query"),
        (SourceSpec(name="s", kind="feed"), "needs a url"),
        (SourceSpec(name="s", kind="arxiv", search_query="q", max_pages=0), "max_pages"),
    ],
)
def test_bad_specs_are_config_errors(spec: SourceSpec, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        validate_spec(spec)
