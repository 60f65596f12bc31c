"""Tests for feeds.web and feeds.static: a real aiohttp server on 127.0.0.1 over a real SQLite store."""

from __future__ import annotations

import gzip
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest
from aiohttp import web
from lxml import etree

from feeds.publish import FeedSettings, entry_id
from feeds.static import build_static
from feeds.web import CACHE_KEY, invalidate, make_app
from storage.models import PaperRecord
from storage.store import Store

ATOM = "{http://www.w3.org/2005/Atom}"
RNG = Path(__file__).parent / "resources" / "atom.rng"
IDENTITY = {"Accept-Encoding": "identity"}

RECORDS = [
    PaperRecord(
        title="Rethinking Evaluation Protocols of Visual Representations Learned via Self-supervised Learning",
        authors=("Jae-Hun Lee", "Doyoung Yoon", "ByeongMoon Ji"),
        authors_truncated=True,
        abstract="Linear probing evaluates self-supervised learning (SSL) representations.",
        category="CV",
        published=date(2023, 4, 7),
        arxiv_id="2304.03456",
    ),
    PaperRecord(
        title="Deep Active Learning with Contrastive Learning Under Realistic Data Pool Assumptions",
        authors=("Jihyo Kim", "Jeonghyeon Kim", "Sangheum Hwang"),
        abstract="Active learning picks the most informative samples from an unlabeled pool.",
        category="CV",
        published=date(2023, 3, 25),
        has_code=True,
        code_url="https://github.com/example/active",
    ),
    PaperRecord(
        title="Attack <script>alert('x')</script> & friends",
        authors=("Jae-Hun Lee", "O'Brien & <Sons>"),
        abstract="Hostile text: <b>bold</b> & more SSL.",
        category="ML",
        published=date(2023, 5, 1),
        doi="10.1000/hostile",
    ),
]
NEW_RECORD = PaperRecord(
    title="A Brand New Paper on Domain Adaptation",
    authors=("Jae-Hun Lee",),
    abstract="Fresh results.",
    category="CV",
    published=date(2024, 1, 2),
    arxiv_id="2401.00001",
)


@dataclass
class Server:
    url: str
    app: web.Application
    store: Store
    settings: FeedSettings
    session: aiohttp.ClientSession

    async def get(self, path: str, **kwargs: Any) -> tuple[aiohttp.ClientResponse, bytes]:
        async with self.session.get(self.url + path.lstrip("/"), **kwargs) as response:
            return response, await response.read()


async def start(
    store: Store, *, check_interval: float = 0.0, **kwargs: Any
) -> tuple[web.AppRunner, str, web.Application, FeedSettings]:
    # Bind first so the base URL the feeds print is the one the server really has.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    settings = FeedSettings(title="Lab feed", base_url=url, entries=50)
    app = make_app(store, settings, check_interval=check_interval, **kwargs)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, url, app, settings


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "paperboy.db")
    await store.ingest(RECORDS, source="seed")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def server(store: Store) -> AsyncIterator[Server]:
    runner, url, app, settings = await start(store)
    async with aiohttp.ClientSession() as session:
        yield Server(url, app, store, settings, session)
    await runner.cleanup()


# --- what is served ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("feed.atom", "application/atom+xml; charset=utf-8"),
        ("feed.rss", "application/rss+xml; charset=utf-8"),
        ("feed.json", "application/feed+json; charset=utf-8"),
        ("authors/jae-hun-lee.atom", "application/atom+xml; charset=utf-8"),
        ("authors/jae-hun-lee.rss", "application/rss+xml; charset=utf-8"),
        ("authors/jae-hun-lee.json", "application/feed+json; charset=utf-8"),
        ("topics/ssl.atom", "application/atom+xml; charset=utf-8"),
        ("categories/cv.json", "application/feed+json; charset=utf-8"),
        ("", "text/html; charset=utf-8"),
        ("feeds.opml", "text/x-opml; charset=utf-8"),
        ("healthz", "application/json; charset=utf-8"),
    ],
)
async def test_content_types(server: Server, path: str, content_type: str) -> None:
    response, body = await server.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert body


async def test_main_feed_is_valid_atom_with_every_paper(server: Server) -> None:
    _, body = await server.get("feed.atom")
    schema = etree.RelaxNG(etree.parse(str(RNG)))
    assert schema.validate(etree.fromstring(body)), schema.error_log
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert len(parsed.entries) == len(RECORDS)
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == [server.url + "feed.atom"]
    keys = {p.key for p in await server.store.latest(10)}
    assert {e.id for e in parsed.entries} == {entry_id(p) for p in await server.store.latest(10)}
    assert len(keys) == len(RECORDS)


async def test_author_topic_and_category_feeds_hold_only_their_papers(server: Server) -> None:
    _, body = await server.get("authors/jae-hun-lee.json")
    titles = {item["title"] for item in json.loads(body)["items"]}
    assert titles == {RECORDS[0].title, RECORDS[2].title}
    assert json.loads(body)["feed_url"] == server.url + "authors/jae-hun-lee.json"
    _, body = await server.get("categories/ml.rss")
    assert [e.title for e in feedparser.parse(body).entries] == [RECORDS[2].title]
    _, body = await server.get("topics/ssl.atom")
    ssl_titles = {e.title for e in feedparser.parse(body).entries}
    assert RECORDS[0].title in ssl_titles and RECORDS[1].title not in ssl_titles


async def test_limit_caps_entries(server: Server) -> None:
    response, body = await server.get("feed.json?limit=2")
    assert response.status == 200
    assert len(json.loads(body)["items"]) == 2


# --- validators and encodings -----------------------------------------------------------


async def test_etag_and_last_modified_give_304(server: Server) -> None:
    response, body = await server.get("feed.atom", headers=IDENTITY)
    etag = response.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "strong ETag from the body hash"
    last_modified = response.headers["Last-Modified"]
    newest = max(p.updated_at for p in await server.store.latest(10))
    assert parsedate_to_datetime(last_modified) == newest.replace(microsecond=0)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Vary"] == "Accept-Encoding"

    for header in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"nope", {etag}'},
        {"If-None-Match": f"W/{etag}"},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
    ):
        response, again = await server.get("feed.atom", headers={**IDENTITY, **header})
        assert response.status == 304, header
        assert again == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Last-Modified"] == last_modified

    earlier = format_datetime(parsedate_to_datetime(last_modified).replace(year=2000), usegmt=True)
    for header in (
        {"If-None-Match": '"something-else"'},
        {"If-Modified-Since": earlier},
        {"If-Modified-Since": "not a date"},
        # If-None-Match wins over If-Modified-Since when both are sent.
        {"If-None-Match": '"something-else"', "If-Modified-Since": last_modified},
    ):
        response, again = await server.get("feed.atom", headers={**IDENTITY, **header})
        assert response.status == 200, header
        assert again == body


async def test_gzip_when_asked(store: Store) -> None:
    runner, url, _, _ = await start(store)
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.get(url + "feed.rss", headers=IDENTITY) as plain:
                plain_body = await plain.read()
                assert "Content-Encoding" not in plain.headers
            async with session.get(url + "feed.rss", headers={"Accept-Encoding": "gzip"}) as zipped:
                zipped_body = await zipped.read()
                assert zipped.headers["Content-Encoding"] == "gzip"
                assert zipped.headers["Vary"] == "Accept-Encoding"
                assert zipped.headers["ETag"] != plain.headers["ETag"]
                assert int(zipped.headers["Content-Length"]) == len(zipped_body)
            assert gzip.decompress(zipped_body) == plain_body
            assert len(zipped_body) < len(plain_body)
            headers = {"Accept-Encoding": "gzip;q=0, identity"}
            async with session.get(url + "feed.rss", headers=headers) as refused:
                assert "Content-Encoding" not in refused.headers
                assert await refused.read() == plain_body
            etag = zipped.headers["ETag"]
            headers = {"Accept-Encoding": "gzip", "If-None-Match": etag}
            async with session.get(url + "feed.rss", headers=headers) as cached:
                assert cached.status == 304
    finally:
        await runner.cleanup()


async def test_head_has_headers_and_no_body(server: Server) -> None:
    get, body = await server.get("feed.json", headers=IDENTITY)
    async with server.session.head(server.url + "feed.json", headers=IDENTITY) as head:
        assert head.status == 200
        assert await head.read() == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
        assert head.headers["ETag"] == get.headers["ETag"]
        assert int(head.headers["Content-Length"]) == len(body)
    async with server.session.post(server.url + "feed.json") as post:
        assert post.status == 405


# --- errors -----------------------------------------------------------------------------


async def test_unknown_author_suggests_the_closest(server: Server) -> None:
    response, body = await server.get("authors/jae-lee.atom")
    assert response.status == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    text = body.decode()
    assert "jae-lee" in text
    assert f'href="{server.url}authors/jae-hun-lee.atom"' in text
    assert "Jae-Hun Lee" in text
    assert "feeds.opml" in text and f'href="{server.url}"' in text


async def test_unknown_topic_and_category_say_what_exists(server: Server) -> None:
    response, body = await server.get("topics/no-such-topic.rss")
    assert response.status == 404
    assert "topics/ssl.atom" in body.decode()
    response, body = await server.get("categories/zz.json")
    assert response.status == 404
    assert "categories/cv.atom" in body.decode() and "categories/ml.atom" in body.decode()


@pytest.mark.parametrize(
    "path",
    [
        "authors/a..b.atom",
        "authors/%2e%2e%2fetc%2fpasswd.atom",
        "authors/-lee.atom",
        "topics/" + "a" * 200 + ".atom",
        "categories/c%20v.atom",
        "feed.xml",
        "etc/passwd",
        "authors/jae-hun-lee.html",
    ],
)
async def test_bad_paths_are_404_with_a_sentence(server: Server, path: str) -> None:
    response, body = await server.get(path)
    assert response.status == 404
    assert b"/" in body and len(body) > 40  # a sentence pointing somewhere, not a bare code


async def test_non_canonical_slug_redirects(server: Server) -> None:
    response, _ = await server.get("authors/Jae-Hun-Lee.atom", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == "jae-hun-lee.atom"
    response, body = await server.get("categories/CV.json")
    assert response.status == 200 and str(response.url).endswith("/categories/cv.json")
    assert json.loads(body)["items"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("q=" + "x" * 201, "at most 200 characters"),
        ("limit=0", "from 1 to 100"),
        ("limit=101", "from 1 to 100"),
        ("limit=ten", "from 1 to 100"),
        ("limit=-5", "from 1 to 100"),
        ("page=0", "from 1 to 400"),
        ("page=x", "from 1 to 400"),
        ("year=23", "four digits"),
        ("category=a%20b", "category code"),
        ("topic=..%2Fx", "topic slug"),
    ],
)
async def test_bad_parameters_are_400(server: Server, query: str, message: str) -> None:
    # q, page and the filters are the index's; limit applies to the feeds (the index pages instead).
    for path in ("feed.atom",) if query.startswith("limit") else ("",):
        response, body = await server.get(f"{path}?{query}")
        assert response.status == 400
        assert message in body.decode()
    response, _ = await server.get("?q=" + "x" * 200)
    assert response.status == 200


# --- the HTML index ---------------------------------------------------------------------


async def test_index_lists_papers_feeds_and_escapes(server: Server) -> None:
    _, body = await server.get("")
    text = body.decode()
    assert "<script>alert" not in text
    assert "Attack &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in text
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in text
    for kind, fmt in (
        ("application/atom+xml", "atom"),
        ("application/rss+xml", "rss"),
        ("application/feed+json", "json"),
    ):
        assert re.search(
            rf'<link rel="alternate" type="{re.escape(kind)}"[^>]*href="{re.escape(server.url)}'
            rf'feed\.{fmt}"',
            text,
        )
    # Authors and categories link to their pages; filters are plain links; the feeds sit in the footer.
    for link in ("authors/jae-hun-lee", "?topic=ssl", "?category=CV", "?year=2023", "categories/cv",
                 "feed.json", "feeds.opml"):
        assert f'href="{server.url}{link}"' in text, link
    assert 'name="q"' in text and 'method="get"' in text
    assert "https://github.com/example/active" in text
    assert "Jae-Hun Lee, Doyoung Yoon, ByeongMoon Ji, et al." in re.sub(r"<[^>]+>", "", text)


async def test_search_shows_matching_papers(server: Server) -> None:
    response, body = await server.get("", params={"q": "contrastive pool"})
    assert response.status == 200
    text = body.decode()
    assert "Results for" in text and "contrastive pool" in text
    assert "Deep Active Learning" in text
    assert "Rethinking Evaluation" not in text
    response, body = await server.get("", params={"q": '"><script>zzqx'})
    text = body.decode()
    # The query matches the hostile paper's word "script"; both echo and result are escaped.
    assert "<script>" not in text
    assert "Results for “&#34;&gt;&lt;script&gt;zzqx”" in text
    response, body = await server.get("", params={"q": "zzqx"})
    assert "No papers match “zzqx”" in body.decode()


async def test_opml_lists_every_author_feed(server: Server) -> None:
    _, body = await server.get("feeds.opml")
    root = etree.fromstring(body)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title")
    outlines = {o.get("text"): o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")}
    assert outlines["Jae-Hun Lee — papers"] == server.url + "authors/jae-hun-lee.atom"
    assert "O'Brien & <Sons> — papers" in outlines
    assert outlines[next(t for t in outlines if t.startswith("topic: SSL"))] == server.url + "topics/ssl.atom"
    assert outlines["category: CV"] == server.url + "categories/cv.atom"
    for url in outlines.values():
        response, _ = await server.get(url.removeprefix(server.url))
        assert response.status == 200, url


# --- health and extension points --------------------------------------------------------


async def test_healthz_default_and_extended(store: Store) -> None:
    async def healthy() -> Mapping[str, Any]:
        return {"database": "ok", "papers": 3}

    async def broken() -> Mapping[str, Any]:
        raise RuntimeError("database is locked")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="paperboy_up 1\n")

    checks: list[tuple[Callable[[], Awaitable[Mapping[str, Any]]] | None, int, dict]] = [
        (None, 200, {"status": "ok"}),
        (healthy, 200, {"status": "ok", "database": "ok", "papers": 3}),
        (broken, 503, {"status": "error", "error": "RuntimeError: database is locked"}),
    ]
    for check, status, expected in checks:
        runner, url, _, _ = await start(store, health=check, extra_routes=[web.get("/metrics", metrics)])
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url + "healthz") as response:
                    assert response.status == status
                    assert await response.json() == expected
                async with session.get(url + "metrics") as response:
                    assert await response.text() == "paperboy_up 1\n"
        finally:
            await runner.cleanup()


# --- caching ----------------------------------------------------------------------------


async def test_documents_are_built_once_per_data_version(server: Server) -> None:
    cache = server.app[CACHE_KEY]
    first, body = await server.get("feed.atom", headers=IDENTITY)
    builds = cache.builds
    for _ in range(3):
        _, same = await server.get("feed.atom", headers=IDENTITY)
        assert same == body
    await server.get("feed.rss")
    await server.get("feed.json")
    assert cache.builds == builds, "unchanged store: no rebuild, all formats from one build"
    cached = await cache.get(("feed", None, None, None), _must_not_build)
    assert (await cache.get(("feed", None, None, None), _must_not_build)) is cached

    await server.store.ingest([NEW_RECORD], source="later")
    after, fresh = await server.get("feed.atom", headers=IDENTITY)
    assert cache.builds == builds + 1
    assert after.headers["ETag"] != first.headers["ETag"]
    assert NEW_RECORD.title.encode() in fresh
    response, _ = await server.get("feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status == 200


async def test_not_found_pages_are_not_cached(server: Server) -> None:
    cache = server.app[CACHE_KEY]
    await server.get("feed.atom")
    size = len(cache)
    for n in range(5):
        response, _ = await server.get(f"authors/nobody-{n}.atom")
        assert response.status == 404
        assert response.headers["Cache-Control"] == "no-cache"
    assert len(cache) == size


async def test_redirect_keeps_the_query(server: Server) -> None:
    response, _ = await server.get("topics/SSL.json?limit=1", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == "ssl.json?limit=1"
    response, body = await server.get("topics/SSL.json?limit=1")
    assert response.status == 200 and len(json.loads(body)["items"]) == 1


async def _must_not_build() -> Any:
    raise AssertionError("built again although the data version did not change")


async def test_version_is_checked_at_most_once_per_interval(store: Store, tmp_path: Path) -> None:
    runner, url, app, _ = await start(store, check_interval=3600.0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "feed.json") as response:
                before = await response.json()
            # Another process (a second Store on the same file) ingests a paper.
            other = await Store.open(tmp_path / "paperboy.db")
            try:
                await other.ingest([NEW_RECORD], source="cli")
            finally:
                await other.close()
            async with session.get(url + "feed.json") as response:
                assert await response.json() == before  # within the interval: cached
            invalidate(app)
            async with session.get(url + "feed.json") as response:
                titles = [item["title"] for item in (await response.json())["items"]]
            assert NEW_RECORD.title in titles
    finally:
        await runner.cleanup()


# --- static export ----------------------------------------------------------------------


async def test_static_export_matches_served_bytes(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "site"
    written = await build_static(server.store, server.settings, out)
    relative = {p.relative_to(out.resolve()).as_posix() for p in written}
    expected = {
        "feed.atom",
        "feed.rss",
        "feed.json",
        "index.html",
        "feeds.opml",
        "authors/jae-hun-lee.atom",
        "authors/o-brien-sons.json",
        "topics/ssl.rss",
        "categories/cv.atom",
        "categories/ml.json",
        "authors/jae-hun-lee/index.html",
        "topics/ssl/index.html",
        "categories/cv/index.html",
        "authors/index.html",
        "papers/10.1000/hostile/index.html",
        "papers/10.1000/hostile.bib",
        "static/style.css",
    }
    assert expected <= relative
    for name in sorted(relative):
        served_path = name.removesuffix("index.html")
        if served_path.count("/") > 1 or served_path.startswith(("papers/", "categories/")):
            served_path = served_path.rstrip("/")  # pages are served without the trailing slash
        response, body = await server.get(served_path, headers=IDENTITY)
        assert response.status == 200, name
        assert (out / name).read_bytes() == body, name
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    # A second export replaces the files in place with the same bytes.
    again = await build_static(server.store, server.settings, out)
    assert sorted(again) == sorted(written)
    assert (out / "feed.atom").read_bytes() == (await server.get("feed.atom", headers=IDENTITY))[1]


# --- the seed listing end to end ---------------------------------------------------------

SEED = Path(__file__).parents[1] / ".." / "shared" / "seeds" / "000_c2aa908472245cfd.txt"


@pytest.mark.skipif(not SEED.exists(), reason=f"seed listing not found at {SEED}")
async def test_seed_listing_feeds_are_valid(tmp_path: Path) -> None:
    from feeds.sources.listing import parse_listing_file

    result = parse_listing_file(SEED, as_of=date(2024, 1, 1))
    assert result.records
    store = await Store.open(tmp_path / "seed.db")
    try:
        await store.ingest(result.records, source="seed", owner="Jae-Hun Lee")
        runner, url, _, _ = await start(store)
        try:
            schema = etree.RelaxNG(etree.parse(str(RNG)))
            async with aiohttp.ClientSession() as session:
                for path in ("feed.atom", "authors/jae-hun-lee.atom", "topics/ssl.atom"):
                    async with session.get(url + path) as response:
                        assert response.status == 200, path
                        body = await response.read()
                    assert schema.validate(etree.fromstring(body)), (path, schema.error_log)
                    parsed = feedparser.parse(body)
                    assert not parsed.bozo and parsed.entries, path
                async with session.get(url + "feed.json?limit=100") as response:
                    items = (await response.json(content_type=None))["items"]
                assert len(items) == len(result.records)
                assert all(item["authors"] and item["date_published"] for item in items)
        finally:
            await runner.cleanup()
    finally:
        await store.close()
