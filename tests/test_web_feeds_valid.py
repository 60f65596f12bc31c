"""Every feed the site serves, on the demo data: valid by schema and by the feed validator's rules, and linked.

Schemas: RFC 4287's RELAX NG (tests/resources/atom.rng), an RSS 2.0 RELAX NG and a JSON Feed
1.1 JSON Schema written from the specifications (tests/resources/). The W3C feed validator
cannot run offline; the rules of it this file applies are listed in ``W3C_RULES``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import feedparser
import jsonschema
import pytest
from lxml import etree
from lxml import html as lxml_html

from feeds.sources.listing import parse_listing_file
from storage.models import PaperRecord
from storage.store import Store
from tests.test_web import start

RESOURCES = Path(__file__).parent / "resources"
DEMO = Path(__file__).parent.parent / "paperboy" / "demo" / "lab.txt"
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
HOSTILE = PaperRecord(
    title='Attack <script>alert("x")</script> & O\'Brien\'s "quoted" SSL',
    authors=("Jae-Hun Lee", "O'Brien & <Sons>"),
    abstract="Self-supervised learning (SSL) with <b>markup</b> & ampersands.",
    category="CV",
    published=date(2024, 5, 1),
    doi="10.1000/hostile",
)
HOMES: set[str] = set()  # each feed's web page, fetched once the feeds are checked
W3C_RULES = (
    "Atom: feed has id, title, updated; a rel=self link equal to the URL it is served at",
    "Atom: every entry has one rel=alternate text/html link (no entry lacks an alternate or content)",
    "Atom: no two entries share an id (DuplicateEntries) or an updated value (DuplicateUpdated)",
    "Atom: every entry has an author, or the feed has one; published is not after updated",
    "RSS: atom:link rel=self equals the served URL; guids unique; every item has a link",
    "RSS: at most one dc:creator per item (readers show only the last)",
    "RSS/Atom/JSON: dates parse and carry an offset; feedparser reads without bozo",
    "OPML: head holds only OPML 2.0 elements; rss outlines carry text, title and xmlUrl; "
    "folders carry text alone (no MissingOutlineType)",
)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Store]]:
    store = await Store.open(tmp_path / "demo.db")
    parsed = parse_listing_file(DEMO, as_of=date(2026, 6, 1))
    await store.ingest(parsed.records, source="lab.txt")
    await store.ingest([HOSTILE], source="hostile", kind="bibtex")
    runner, url, _, _ = await start(store)
    try:
        yield url, store
    finally:
        await runner.cleanup()
        await store.close()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def _check_atom(url: str, body: bytes, schema: etree.RelaxNG) -> list[tuple[str, str]]:
    root = etree.fromstring(body)
    assert schema.validate(root), (url, schema.error_log)
    for name in ("id", "title", "updated"):
        assert root.findtext(f"{ATOM}{name}"), (url, name)
    selfs = [link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert selfs == [url]
    homes = [link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "alternate"]
    assert len(homes) == 1
    HOMES.add(homes[0])
    feed_author = root.find(f"{ATOM}author") is not None
    ids, updated, links = [], [], []
    for entry in root.findall(f"{ATOM}entry"):
        ids.append(entry.findtext(f"{ATOM}id"))
        updated.append(entry.findtext(f"{ATOM}updated"))
        alternates = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1 and alternates[0].get("type") == "text/html", url
        assert feed_author or entry.find(f"{ATOM}author") is not None
        published = entry.findtext(f"{ATOM}published")
        assert datetime.fromisoformat(published) <= datetime.fromisoformat(updated[-1]), (url, ids[-1])
        links.append((alternates[0].get("href"), entry.findtext(f"{ATOM}title")))
    assert len(set(ids)) == len(ids), url
    assert len(set(updated)) == len(updated), (url, "DuplicateUpdated")
    return links


def _check_rss(url: str, body: bytes, schema: etree.RelaxNG) -> list[tuple[str, str]]:
    root = etree.fromstring(body)
    assert schema.validate(root), (url, schema.error_log)
    channel = root.find("channel")
    selfs = [link.get("href") for link in channel.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert selfs == [url]
    guids, links = [], []
    for item in channel.findall("item"):
        guids.append(item.findtext("guid"))
        assert item.findtext("link"), url
        assert len(item.findall(f"{DC}creator")) <= 1, url
        assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
        links.append((item.findtext("link"), item.findtext("title")))
    assert len(set(guids)) == len(guids), url
    return links


def _check_json(url: str, body: bytes, schema: dict) -> list[tuple[str, str]]:
    document = json.loads(body)
    jsonschema.validate(document, schema)
    assert document["feed_url"] == url
    ids = [item["id"] for item in document["items"]]
    assert len(set(ids)) == len(ids), url
    return [(item["url"], item["title"]) for item in document["items"]]


async def test_every_feed_is_valid_listed_and_links_to_its_papers(site: tuple[str, Store]) -> None:
    url, store = site
    HOMES.clear()
    atom_schema = etree.RelaxNG(etree.parse(str(RESOURCES / "atom.rng")))
    rss_schema = etree.RelaxNG(etree.parse(str(RESOURCES / "rss2.rng")))
    json_schema = json.loads((RESOURCES / "jsonfeed-1.1.schema.json").read_text())
    async with aiohttp.ClientSession() as session:
        status, content_type, body = await _get(session, url + "feeds.opml")
        assert status == 200 and content_type.startswith("text/x-opml")
        opml = etree.fromstring(body)
        assert {child.tag for child in opml.find("head")} <= {
            "title", "dateCreated", "dateModified", "ownerName", "ownerEmail", "ownerId", "docs",
            "expansionState", "vertScrollState", "windowTop", "windowLeft", "windowBottom", "windowRight",
        } - {"docs"}
        listed: set[str] = set()
        for outline in opml.iter("outline"):
            if outline.get("xmlUrl"):
                assert outline.get("type") == "rss" and outline.get("text") and outline.get("title")
                listed.add(outline.get("xmlUrl"))
            else:
                assert set(outline.attrib) == {"text"}, outline.attrib
        groups = [o.get("text") for o in opml.find("body") if not o.get("xmlUrl")]
        assert groups == ["Categories", "Topics", "Authors"]
        # The OPML lists every feed the store has: the whole feed, each author, topic and category.
        authors = [r[0] for r in await store.db.fetchall("SELECT key FROM authors")]
        expected = {url + "feed.atom"} | {f"{url}authors/{k}.atom" for k in authors}
        expected |= {f"{url}topics/{t.slug}.atom" for t in await store.topics()}
        expected |= {f"{url}categories/{c.lower()}.atom" for c, _ in await store.categories()}
        assert listed == expected

        items: dict[str, str] = {}
        feeds = 0
        for atom_url in sorted(listed):
            for fmt in ("atom", "rss", "json"):
                feed_url = atom_url.removesuffix(".atom") + "." + fmt
                status, content_type, body = await _get(session, feed_url)
                assert status == 200, feed_url
                parsed = feedparser.parse(body)
                if fmt != "json":
                    assert not parsed.bozo, (feed_url, parsed.get("bozo_exception"))
                    assert parsed.version == {"atom": "atom10", "rss": "rss20"}[fmt]
                if fmt == "atom":
                    found = _check_atom(feed_url, body, atom_schema)
                elif fmt == "rss":
                    found = _check_rss(feed_url, body, rss_schema)
                else:
                    found = _check_json(feed_url, body, json_schema)
                for link, title in found:
                    assert link.startswith(url + "papers/"), link
                    assert items.setdefault(link, title) == title
                feeds += 1
        assert feeds == 3 * len(listed)
        print(f"checked {feeds} feeds, {len(items)} distinct item links")
        assert any("<script>" in title for title in items.values())
        # Each feed's web page (its Atom alternate: the author's, topic's or category's page) answers.
        assert len(HOMES) == len(listed)
        for home in HOMES:
            status, content_type, _ = await _get(session, home)
            assert status == 200 and content_type.startswith("text/html"), home
        # Every item's link answers 200 with that paper's title as the page's heading.
        for link, title in items.items():
            status, content_type, body = await _get(session, link)
            assert status == 200, link
            page = lxml_html.fromstring(body)
            assert page.findtext(".//h1") == title, link
            assert not page.xpath("//script"), link

