"""The feed site's HTML pages (index, search results, not-found) and its OPML list; all escaped."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape

from lxml import etree

from feeds.publish import (
    FeedSettings,
    author_line,
    clean_line,
    clean_text,
    safe_url,
)
from storage.models import Paper

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#222}
h1{margin-bottom:.2rem} .sub{color:#555;margin-top:0}
form{margin:1rem 0} input[type=search]{width:70%;padding:.4rem}
ol.papers{padding-left:1.2rem} ol.papers li{margin-bottom:1rem}
.meta{color:#555;font-size:.9rem} .feeds a{margin-right:.4rem}
details{margin:.5rem 0} summary{cursor:pointer}
"""


@dataclass(frozen=True)
class FeedLink:
    """A feed as the index and OPML list it: a label, its Atom URL and a note (paper count)."""

    label: str
    atom_url: str
    note: str = ""
    slug: str = ""

    def url(self, fmt: str) -> str:
        return self.atom_url.removesuffix(".atom") + f".{fmt}"


@dataclass(frozen=True)
class Catalogue:
    """Every per-author, per-topic and per-category feed the site serves."""

    authors: list[FeedLink] = field(default_factory=list)
    topics: list[FeedLink] = field(default_factory=list)
    categories: list[FeedLink] = field(default_factory=list)


def _e(text: str | None) -> str:
    return escape(clean_text(text or ""), quote=True)


def _feed_anchors(link: FeedLink) -> str:
    return " ".join(
        f'<a href="{_e(link.url(fmt))}">{label}</a>'
        for fmt, label in (("atom", "Atom"), ("rss", "RSS"), ("json", "JSON"))
    )


def _feed_list(links: Sequence[FeedLink]) -> str:
    if not links:
        return "<p>None yet.</p>"
    items = "\n".join(
        f'<li>{_e(link.label)} <span class="meta">({_e(link.note)})</span> '
        f'<span class="feeds">{_feed_anchors(link)}</span></li>'
        for link in links
    )
    return f"<ul>\n{items}\n</ul>"


def _paper_item(paper: Paper) -> str:
    title = _e(clean_line(paper.title) or paper.key)
    url = safe_url(paper.url)
    heading = f'<a href="{_e(url)}">{title}</a>' if url else title
    authors = author_line([clean_line(a) for a in paper.authors if clean_line(a)], paper.authors_truncated)
    meta = [
        m
        for m in (
            paper.published.isoformat() if paper.published else "",
            clean_line(paper.category),
        )
        if m
    ]
    links = []
    for label, href in (("PDF", safe_url(paper.pdf_url)), ("Code", safe_url(paper.code_url))):
        if href:
            links.append(f'<a href="{_e(href)}">{label}</a>')
    abstract = clean_text(paper.abstract).strip()
    parts = [f'<li id="paper-{_e(paper.key)}"><strong>{heading}</strong>']
    if authors:
        parts.append(f"<div>{_e(authors)}</div>")
    if meta or links:
        parts.append(f'<div class="meta">{_e(" · ".join(meta))} {" ".join(links)}</div>')
    if abstract:
        parts.append(f"<details><summary>Abstract</summary><p>{_e(abstract)}</p></details>")
    parts.append("</li>")
    return "\n".join(parts)


def _page(settings: FeedSettings, title: str, body: str) -> bytes:
    base = settings.base_url.rstrip("/") + "/"
    site = clean_line(settings.title) or "paperboy"
    discovery = "\n".join(
        f'<link rel="alternate" type="{kind}" title="{_e(site)} ({label})" href="{_e(base)}feed.{fmt}">'
        for fmt, kind, label in (
            ("atom", "application/atom+xml", "Atom"),
            ("rss", "application/rss+xml", "RSS"),
            ("json", "application/feed+json", "JSON Feed"),
        )
    )
    page = f"""<!DOCTYPE html>
<html lang="{_e(settings.language or "en")}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
{discovery}
<style>{_STYLE}</style>
</head>
<body>
{body}
</body>
</html>
"""
    return page.encode("utf-8")


def render_index(
    settings: FeedSettings,
    papers: Sequence[Paper],
    catalogue: Catalogue,
    *,
    query: str | None = None,
) -> bytes:
    """The index page: a search box, recent papers (or results for ``query``), every feed."""
    base = settings.base_url.rstrip("/") + "/"
    site = clean_line(settings.title) or "paperboy"
    shown = clean_line(query)
    if query:
        heading = f"Results for “{_e(shown)}”"
        empty = (
            f"<p>No papers match “{_e(shown)}”. Try fewer or other words, "
            f'or <a href="{_e(base)}">see the newest papers</a>.</p>'
        )
    else:
        heading = "Newest papers"
        empty = "<p>No papers yet.</p>"
    listing = '<ol class="papers">\n' + "\n".join(_paper_item(p) for p in papers) + "\n</ol>" if papers else empty
    main = FeedLink("All papers", f"{base}feed.atom")
    body = f"""<h1><a href="{_e(base)}">{_e(site)}</a></h1>
<p class="sub">{_e(clean_line(settings.subtitle))}</p>
<form method="get" action="{_e(base)}" role="search">
<input type="search" name="q" maxlength="200" value="{_e(shown)}"
 placeholder="Search titles and abstracts" aria-label="Search papers">
<button type="submit">Search</button>
</form>
<p class="feeds">Subscribe to all papers: {_feed_anchors(main)} ·
<a href="{_e(base)}feeds.opml">OPML of every author feed</a></p>
<h2>{heading}</h2>
{listing}
<h2>Feeds</h2>
<details><summary>Categories ({len(catalogue.categories)})</summary>
{_feed_list(catalogue.categories)}</details>
<details><summary>Topics ({len(catalogue.topics)})</summary>
{_feed_list(catalogue.topics)}</details>
<details><summary>Authors ({len(catalogue.authors)})</summary>
{_feed_list(catalogue.authors)}</details>
"""
    title = f"{site}: {heading}" if query else site
    return _page(settings, title.replace("“", "").replace("”", ""), body)


def render_not_found(
    settings: FeedSettings,
    *,
    what: str,
    asked: str,
    suggestions: Sequence[FeedLink],
    hint: str,
) -> bytes:
    """A 404 page that says what was not found and how to find the right feed."""
    base = settings.base_url.rstrip("/") + "/"
    if suggestions:
        closest = f"<p>The closest {_e(what)} feeds:</p>\n{_feed_list(suggestions)}"
    else:
        closest = f"<p>No {_e(what)} looks close to that.</p>"
    body = f"""<h1>No {_e(what)} “{_e(asked)}”</h1>
<p>There is no {_e(what)} feed named “{_e(asked)}” here. {_e(hint)}</p>
{closest}
<p>The <a href="{_e(base)}">index</a> lists every feed and has a search box;
<a href="{_e(base)}feeds.opml">feeds.opml</a> lists every author feed.</p>
"""
    return _page(settings, f"No {what} {clean_line(asked)}", body)


def render_opml(settings: FeedSettings, catalogue: Catalogue, updated: datetime) -> bytes:
    """OPML 2.0: the main feed, then one outline per author feed."""
    base = settings.base_url.rstrip("/") + "/"
    site = clean_line(settings.title) or "paperboy"
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{site}: author feeds"
    etree.SubElement(head, "dateModified").text = format_datetime(updated, usegmt=True)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    etree.SubElement(
        body,
        "outline",
        type="rss",
        text=f"{site}: all papers",
        title=f"{site}: all papers",
        xmlUrl=f"{base}feed.atom",
        htmlUrl=base,
    )
    folder = etree.SubElement(body, "outline", text="Authors", title="Authors")
    for link in catalogue.authors:
        etree.SubElement(
            folder,
            "outline",
            type="rss",
            text=link.label,
            title=link.label,
            xmlUrl=link.atom_url,
            htmlUrl=base,
        )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
