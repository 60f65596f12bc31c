"""Tests for feeds.publish: every feed is valid to its spec and readable by a real reader."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.publish import (
    EMPTY_FEED_UPDATED,
    FeedSettings,
    FeedSpec,
    clean_text,
    entry_id,
    render_all,
    render_atom,
    render_json,
    render_rss,
    safe_url,
)
from storage.models import Link, Paper

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
RNG_PATH = Path(__file__).parent / "resources" / "atom.rng"
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SETTINGS = FeedSettings(title="Lab & <Friends>", base_url="https://feeds.example.org/pb")
SPEC = FeedSpec("authors/jae-hun-lee", "Papers by Jae-Hun Lee", "New papers by Jae-Hun Lee")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def make_paper(n: int, **fields: object) -> Paper:
    base: dict[str, object] = {
        "id": n,
        "key": f"2304.{n:05d}",
        "title": f"Paper number {n}",
        "authors": ("Jae-Hun Lee", "Doyoung Yoon"),
        "authors_truncated": False,
        "abstract": f"Abstract of paper {n}.",
        "category": "CV",
        "published": date(2023, 4, 1) + timedelta(days=n),
        "has_code": False,
        "code_url": None,
        "first_seen_at": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=n),
        "updated_at": datetime(2024, 2, 1, tzinfo=UTC) + timedelta(hours=n),
        "arxiv_id": f"2304.{n:05d}",
    }
    base.update(fields)
    return Paper(**base)  # type: ignore[arg-type]


def hostile_papers() -> list[Paper]:
    """Papers built to break naive renderers."""
    return [
        make_paper(
            1,
            title="Attack\x0b of the <script>alert('x')</script> & Co\x00ntrol\x1f chars",
            authors=(
                "Jae-Hun\x0c Lee",
                "O'Brien & <Sons>",
                "Zoë Ångström",
                "李 小龍",
                "\ud800Lone",
            ),
            authors_truncated=True,
            abstract="We study &amp; <b>bold</b> claims \ufffe\uffff\x08 with \u202eRTL text 😀. " + "x" * 3000,
            category="CV\x01",
            categories=("cs.CV", "cs.LG", "CV"),
            has_code=True,
            code_url="https://github.com/lab/repo?a=1&b=<2>",
        ),
        make_paper(
            2,
            title="Three hundred authors",
            authors=tuple(f"Author {i:03d}" for i in range(300)),
            abstract="A" * 3000,
        ),
        make_paper(
            3,
            key='10.1000/xyz<1>&"q"',
            title="No dates, no links, no authors, no abstract",
            authors=(),
            abstract="",
            category=None,
            published=None,
            arxiv_id=None,
            doi=None,
            # Stores may hand back naive UTC datetimes; they must still render as UTC.
            first_seen_at=datetime(2024, 3, 1, 12, 0, 0),
            updated_at=datetime(2024, 3, 2, 12, 0, 0, 999999),
        ),
        make_paper(
            4,
            key="doi-only",
            title="DOI only, hostile code link",
            arxiv_id=None,
            doi="10.5555/abc def",
            code_url="javascript:alert(1)",
            links=(Link("https://example.org/paper 4", "alternate"),),
        ),
    ]


def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(RNG_PATH)))


def check_atom_rules(data: bytes) -> etree._Element:
    """RFC 4287 rules the RELAX NG schema cannot express (its Schematron annotations, 4.1.1)."""
    root = etree.fromstring(data)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    if root.find(f"{ATOM}author") is None:
        assert all(e.find(f"{ATOM}author") is not None for e in entries)
    for element in [root, *entries]:
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in element.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert len(alternates) == len(set(alternates)), "two alternates with the same type"
        assert all(link.get("href") for link in element.findall(f"{ATOM}link"))
    for entry in entries:
        has_alternate = any(link.get("rel", "alternate") == "alternate" for link in entry.findall(f"{ATOM}link"))
        assert has_alternate or entry.find(f"{ATOM}content") is not None
        assert len(entry.findall(f"{ATOM}id")) == 1
    return root


# --- Atom -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "papers",
    [hostile_papers(), [], [make_paper(7)], [make_paper(n) for n in range(50)]],
    ids=["hostile", "empty", "one", "fifty"],
)
def test_atom_is_valid_rfc4287(papers: list[Paper]) -> None:
    data = render_atom(papers, SPEC, SETTINGS)
    schema = atom_schema()
    doc = etree.fromstring(data)
    assert schema.validate(doc), schema.error_log
    check_atom_rules(data)
    assert len(doc.findall(f"{ATOM}entry")) == len(papers)


def test_schema_rejects_what_rfc4287_forbids() -> None:
    """The transcribed schema must have teeth: a broken rendering has to fail it."""
    schema = atom_schema()
    good = etree.fromstring(render_atom([make_paper(1)], SPEC, SETTINGS))
    assert schema.validate(good)
    for path in (f"{ATOM}id", f"{ATOM}updated", f"{ATOM}title"):
        broken = etree.fromstring(render_atom([make_paper(1)], SPEC, SETTINGS))
        broken.remove(broken.find(path))
        assert not schema.validate(broken), path
    broken = etree.fromstring(render_atom([make_paper(1)], SPEC, SETTINGS))
    broken.find(f"{ATOM}entry/{ATOM}updated").text = "April 3rd"
    assert not schema.validate(broken)
    broken = etree.fromstring(render_atom([make_paper(1)], SPEC, SETTINGS))
    del broken.find(f"{ATOM}entry/{ATOM}link").attrib["href"]
    assert not schema.validate(broken)


def test_atom_entry_links_keep_their_attributes() -> None:
    paper = make_paper(1, has_code=True, code_url="https://github.com/lab/repo", doi="10.1/x")
    root = etree.fromstring(render_atom([paper], SPEC, SETTINGS))
    links = root.find(f"{ATOM}entry").findall(f"{ATOM}link")
    by_title = {link.get("title"): link for link in links}
    alternates = [link for link in links if link.get("rel") == "alternate"]
    assert len(alternates) == 1
    # The one alternate is the paper's page on this site; the paper's own page is related.
    assert alternates[0].get("href") == "https://feeds.example.org/pb/papers/2304.00001"
    assert alternates[0].get("type") == "text/html"
    assert by_title["Paper"].get("rel") == "related"
    assert by_title["Paper"].get("href") == "https://arxiv.org/abs/2304.00001"
    assert by_title["PDF"].get("rel") == "related"
    assert by_title["PDF"].get("type") == "application/pdf"
    assert by_title["PDF"].get("href") == "https://arxiv.org/pdf/2304.00001"
    assert by_title["Code"].get("rel") == "related"
    assert by_title["Code"].get("href") == "https://github.com/lab/repo"
    assert by_title["DOI"].get("href") == "https://doi.org/10.1/x"
    assert all(link.get("rel") for link in links), "a bare link reads as a second alternate"


def test_atom_feed_level_fields() -> None:
    papers = [make_paper(1), make_paper(5), make_paper(3)]
    root = etree.fromstring(render_atom(papers, SPEC, SETTINGS))
    links = {link.get("rel"): link for link in root.findall(f"{ATOM}link")}
    assert links["self"].get("href") == "https://feeds.example.org/pb/authors/jae-hun-lee.atom"
    # The feed's web page is the author's page on the site.
    assert links["alternate"].get("href") == "https://feeds.example.org/pb/authors/jae-hun-lee"
    assert root.findtext(f"{ATOM}title") == "Papers by Jae-Hun Lee"
    assert root.findtext(f"{ATOM}subtitle") == "New papers by Jae-Hun Lee"
    assert root.findtext(f"{ATOM}generator") == "paperboy"
    assert root.findtext(f"{ATOM}id") == "tag:paperboy,2024:feed/authors/jae-hun-lee"
    # The feed's updated is the newest entry's updated_at, not the time of the build.
    assert root.findtext(f"{ATOM}updated") == "2024-02-01T05:00:00+00:00"
    # Entries keep the order given (the store returns newest first).
    ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
    assert ids == [entry_id(p) for p in papers]


def test_empty_feed_has_fixed_updated_date() -> None:
    root = etree.fromstring(render_atom([], SPEC, SETTINGS))
    assert root.findtext(f"{ATOM}updated") == EMPTY_FEED_UPDATED.isoformat()
    rss = etree.fromstring(render_rss([], SPEC, SETTINGS))
    assert parsedate_to_datetime(rss.findtext("channel/lastBuildDate")) == EMPTY_FEED_UPDATED


# --- reader round trip ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt, version", [("atom", "atom10"), ("rss", "rss20")])
def test_feedparser_reads_every_field(fmt: str, version: str) -> None:
    papers = hostile_papers()
    parsed = feedparser.parse(render_all(papers, SPEC, SETTINGS)[fmt])
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == version
    assert parsed.feed.title == "Papers by Jae-Hun Lee"
    assert parsed.feed.link == "https://feeds.example.org/pb/authors/jae-hun-lee"
    assert len(parsed.entries) == len(papers)
    for paper, entry in zip(papers, parsed.entries, strict=True):
        assert entry.id == entry_id(paper)
        assert entry.title == " ".join(clean_text(paper.title).split())
        assert entry.published_parsed is not None
        if fmt == "atom":
            assert entry.updated_parsed is not None
        assert entry.summary
        names = [a.get("name") for a in entry.get("authors", [])]
        expected = [n for n in (" ".join(clean_text(a).split()) for a in paper.authors) if n]
        if fmt == "atom":
            # Atom authors: every name, in order.
            assert names == expected
        elif expected:
            # RSS: one dc:creator naming everyone (readers show only the last of several).
            assert names == [", ".join(expected) + (", et al." if paper.authors_truncated else "")]
        # Every item links to its page on this site.
        assert entry.link.startswith("https://feeds.example.org/pb/papers/")
    first = parsed.entries[0]
    assert first.link == "https://feeds.example.org/pb/papers/2304.00001"
    third = parsed.entries[2]
    assert third.published_parsed[:3] == (2024, 3, 1)  # no date: first seen, naive read as UTC
    assert "No abstract available." in third.summary
    fourth = parsed.entries[3]
    assert fourth.link == "https://feeds.example.org/pb/papers/doi-only"


def test_atom_dates_come_from_the_data() -> None:
    papers = hostile_papers()
    root = etree.fromstring(render_atom(papers, SPEC, SETTINGS))
    entries = root.findall(f"{ATOM}entry")
    assert entries[0].findtext(f"{ATOM}published") == "2023-04-02T00:00:00+00:00"
    # Changed after first sight (updated_at a month on): the day of the change; the time of day
    # is the row id in seconds, so no two entries share an updated.
    assert entries[0].findtext(f"{ATOM}updated") == "2024-02-01T00:00:01+00:00"
    assert entries[2].findtext(f"{ATOM}published") == "2024-03-01T12:00:00+00:00"
    assert entries[2].findtext(f"{ATOM}updated") == "2024-03-02T00:00:03+00:00"
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert len(set(updated)) == len(updated)
    for text in root.itertext():
        if RFC3339.match(text.strip()):
            assert datetime.fromisoformat(text.strip()).tzinfo is not None


# --- hostile text ---------------------------------------------------------------------------


def test_hostile_text_is_cleaned_and_escaped() -> None:
    outputs = render_all(hostile_papers(), SPEC, SETTINGS)
    for fmt, data in outputs.items():
        text = data.decode("utf-8")
        assert not FORBIDDEN.search(text), fmt
        assert "javascript:" not in text, fmt
        assert "<script>" not in text or fmt == "json", fmt
    # XML escapes markup in titles: the element holds the literal text.
    root = etree.fromstring(outputs["atom"])
    title = root.find(f"{ATOM}entry").findtext(f"{ATOM}title")
    assert title == "Attack of the <script>alert('x')</script> & Control chars"
    authors = [a.findtext(f"{ATOM}name") for a in root.find(f"{ATOM}entry").iter(f"{ATOM}author")]
    assert authors == ["Jae-Hun Lee", "O'Brien & <Sons>", "Zoë Ångström", "李 小龍", "Lone"]
    # HTML bodies escape the abstract: no live markup from the source reaches a reader.
    content = root.find(f"{ATOM}entry").findtext(f"{ATOM}content")
    assert "&lt;b&gt;bold&lt;/b&gt;" in content
    assert "et al." in content
    document = json.loads(outputs["json"])
    item = document["items"][0]
    assert "<b>bold</b>" in item["content_text"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in item["content_html"]
    assert item["_paperboy"]["authors_truncated"] is True
    assert item["tags"] == ["CV", "cs.CV", "cs.LG"]


def test_all_three_hundred_authors_in_order() -> None:
    paper = hostile_papers()[1]
    outputs = render_all([paper], SPEC, SETTINGS)
    atom = etree.fromstring(outputs["atom"])
    names = [n.text for n in atom.find(f"{ATOM}entry").iter(f"{ATOM}name")]
    assert names == list(paper.authors)
    rss = etree.fromstring(outputs["rss"])
    assert [c.text for c in rss.find("channel/item").iter(f"{DC}creator")] == [", ".join(paper.authors)]
    item = json.loads(outputs["json"])["items"][0]
    assert [a["name"] for a in item["authors"]] == list(paper.authors)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(st.characters(exclude_categories=()), max_size=40),
    author=st.text(st.characters(exclude_categories=()), max_size=20),
    abstract=st.text(st.characters(exclude_categories=()), max_size=200),
    url=st.text(st.characters(exclude_categories=()), max_size=30),
)
def test_any_text_renders_without_crashing(title: str, author: str, abstract: str, url: str) -> None:
    paper = make_paper(
        1,
        title=title,
        authors=(author,),
        abstract=abstract,
        code_url="https://x.org/" + url,
        category=author,
    )
    outputs = render_all([paper], SPEC, SETTINGS)
    for data in outputs.values():
        assert not FORBIDDEN.search(data.decode("utf-8"))
    assert atom_schema().validate(etree.fromstring(outputs["atom"]))
    etree.fromstring(outputs["rss"])
    json.loads(outputs["json"])


def test_safe_url_keeps_only_web_links() -> None:
    assert safe_url("https://a.org/x?y=1&z=2") == "https://a.org/x?y=1&z=2"
    assert safe_url(" http://a.org/a b ") == "http://a.org/a%20b"
    assert safe_url('https://a.org/"><script>') == "https://a.org/%22%3E%3Cscript%3E"
    for bad in ("javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "a.org", "", None):
        assert safe_url(bad) is None


# --- RSS 2.0 ----------------------------------------------------------------------------------


def test_rss_has_what_rss2_requires() -> None:
    papers = hostile_papers()
    root = etree.fromstring(render_rss(papers, SPEC, SETTINGS))
    assert root.tag == "rss" and root.get("version") == "2.0"
    channels = root.findall("channel")
    assert len(channels) == 1
    channel = channels[0]
    # Required channel elements.
    assert channel.findtext("title") == "Papers by Jae-Hun Lee"
    assert channel.findtext("link") == "https://feeds.example.org/pb/authors/jae-hun-lee"
    assert channel.findtext("description") == "New papers by Jae-Hun Lee"
    self_link = channel.find(f"{ATOM}link")
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == "https://feeds.example.org/pb/authors/jae-hun-lee.rss"
    assert channel.findtext("generator") == "paperboy"
    newest = max(p.updated_at.replace(tzinfo=p.updated_at.tzinfo or UTC) for p in papers)
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest.replace(microsecond=0)
    items = channel.findall("item")
    assert len(items) == len(papers)
    for paper, item in zip(papers, items, strict=True):
        assert item.findtext("title") or item.findtext("description")
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false"
        assert guid.text == entry_id(paper)
        assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
        for category in item.findall("category"):
            assert category.text
    assert items[0].findtext("link") == "https://feeds.example.org/pb/papers/2304.00001"
    # Even a paper with no URL of its own links to its page here.
    assert items[2].findtext("link") == "https://feeds.example.org/pb/papers/10.1000/xyz%3C1%3E&%22q%22"


# --- JSON Feed 1.1 ----------------------------------------------------------------------------


def test_json_feed_has_what_json_feed_11_requires() -> None:
    papers = hostile_papers()
    document = json.loads(render_json(papers, SPEC, SETTINGS))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Papers by Jae-Hun Lee"
    assert document["home_page_url"] == "https://feeds.example.org/pb/authors/jae-hun-lee"
    assert document["feed_url"] == "https://feeds.example.org/pb/authors/jae-hun-lee.json"
    assert isinstance(document["items"], list) and len(document["items"]) == len(papers)
    assert "author" not in document  # 1.0's field; 1.1 uses `authors`
    ids = set()
    for paper, item in zip(papers, document["items"], strict=True):
        assert isinstance(item["id"], str) and item["id"] == entry_id(paper)
        ids.add(item["id"])
        assert item.get("content_text") or item.get("content_html")
        assert item["title"]
        assert item["summary"] and len(item["summary"]) <= 301
        for field in ("date_published", "date_modified"):
            assert RFC3339.match(item[field]), item[field]
        for author in item.get("authors", []):
            assert set(author) == {"name"} and author["name"]
        assert all(isinstance(tag, str) and tag for tag in item.get("tags", []))
        assert "author" not in item
        for key in item:
            assert key in JSON_ITEM_FIELDS or key.startswith("_"), key
    assert len(ids) == len(papers)
    first = document["items"][0]
    assert first["url"] == "https://feeds.example.org/pb/papers/2304.00001"
    assert first["external_url"] == "https://arxiv.org/abs/2304.00001"
    assert first["attachments"][0]["mime_type"] == "application/pdf"
    assert document["items"][2]["url"].startswith("https://feeds.example.org/pb/papers/10.1000/")
    assert "external_url" not in document["items"][2]
    assert document["items"][2]["date_published"] == "2024-03-01T12:00:00Z"
    assert document["items"][3]["external_url"] == "https://example.org/paper%204"
    assert "javascript" not in json.dumps(document["items"][3])  # javascript: link dropped


JSON_ITEM_FIELDS = {
    "id",
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "image",
    "banner_image",
    "date_published",
    "date_modified",
    "authors",
    "tags",
    "language",
    "attachments",
}


# --- stability --------------------------------------------------------------------------------


def test_two_renders_are_byte_identical() -> None:
    first = render_all(hostile_papers(), SPEC, SETTINGS)
    second = render_all(hostile_papers(), SPEC, SETTINGS)
    assert first == second
    assert render_all([], SPEC, SETTINGS) == render_all([], SPEC, SETTINGS)


def test_entry_ids_depend_only_on_the_key() -> None:
    paper = make_paper(1)
    moved = make_paper(1, id=999, updated_at=datetime(2030, 1, 1, tzinfo=UTC), title="Retitled", abstract="v2")
    assert entry_id(paper) == entry_id(moved) == "tag:paperboy,2024:paper/2304.00001"
    other = FeedSettings(base_url="http://elsewhere:9/")
    ids = [
        etree.fromstring(render_atom([p], SPEC, s)).find(f"{ATOM}entry/{ATOM}id").text
        for p, s in ((paper, SETTINGS), (moved, other))
    ]
    assert ids[0] == ids[1]


def test_entry_id_of_odd_key_is_a_valid_uri() -> None:
    odd = entry_id(make_paper(3, key='10.1000/xyz<1>&"q" z'))
    assert odd.startswith("tag:paperboy,2024:paper/10.1000/xyz")
    assert not re.search(r"[\s<>\"]", odd)


def feed_dates(papers: Sequence[Paper]) -> set[str]:
    root = etree.fromstring(render_atom(papers, SPEC, SETTINGS))
    return {element.text for element in root.iter(f"{ATOM}updated", f"{ATOM}published") if element.text}


def test_no_date_is_the_build_time() -> None:
    papers = [make_paper(n) for n in range(3)]
    allowed = {p.updated_at.isoformat() for p in papers} | {
        f"{p.published.isoformat()}T00:00:00+00:00" for p in papers if p.published
    } | {f"{p.updated_at.date().isoformat()}T00:00:{p.id:02d}+00:00" for p in papers}
    assert feed_dates(papers) <= allowed
