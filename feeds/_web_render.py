"""HTML and OPML for the feed site: Jinja2 templates with autoescape, the stylesheet, and the OPML list."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from lxml import etree

from feeds.publish import FeedSettings, base_url_of, clean_line, paper_page_url, safe_url
from storage.models import Paper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedLink:
    """A feed as pages and the OPML list it: a label, its Atom URL, a note (paper count) and its slug."""

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


@dataclass(frozen=True)
class Entry:
    """A paper as a list item or page heading: cleaned text and the links to show."""

    title: str
    page: str
    authors: list[tuple[str, str]]  # (name, author key or "")
    truncated: bool
    date: str
    category: str
    category_slug: str
    code: str | None


@dataclass(frozen=True)
class Chip:
    label: str
    href: str
    count: int | None = None
    current: bool = False


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    prev: str | None
    next: str | None


def category_slug(category: str | None) -> str:
    return clean_line(category).lower()


def entry(settings: FeedSettings, paper: Paper, authors: Sequence[tuple[str, str, bool]] | None = None) -> Entry:
    """The view of one paper; ``authors`` are (name, key, inferred) rows from the store, else names alone."""
    if authors is None:
        listed = [(clean_line(a), "") for a in paper.authors]
    else:
        listed = [(clean_line(name), key) for name, key, inferred in authors if not inferred]
    return Entry(
        title=clean_line(paper.title) or f"Untitled paper {clean_line(paper.key)}",
        page=paper_page_url(settings, paper),
        authors=[(n, k) for n, k in listed if n],
        truncated=paper.authors_truncated,
        date=paper.published.isoformat() if paper.published else "undated",
        category=clean_line(paper.category),
        category_slug=category_slug(paper.category),
        code=safe_url(paper.code_url),
    )


def query_url(base: str, path: str, params: dict[str, Any]) -> str:
    """``base + path`` with the non-empty params as a query string (in a fixed order, so URLs are shareable)."""
    kept = [(k, str(v)) for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)]
    return base + path + (("?" + urlencode(kept)) if kept else "")


def pager(base: str, path: str, params: dict[str, Any], page: int, pages: int) -> Pager:
    def at(n: int) -> str:
        return query_url(base, path, {**params, "page": n})

    return Pager(page, pages, at(page - 1) if page > 1 else None, at(page + 1) if page < pages else None)


class Renderer:
    """Renders the site's templates; one per Site, nothing shared between apps."""

    def __init__(self, settings: FeedSettings) -> None:
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("feeds", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.stylesheet = resources.files("feeds").joinpath("assets/style.css").read_bytes()

    @property
    def base(self) -> str:
        return base_url_of(self.settings)

    def alternates(self, feeds: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        """``<link rel=alternate>`` rows for (title, path stem) feeds, Atom, RSS and JSON each."""
        out = []
        for title, stem in feeds:
            for fmt, kind, label in (
                ("atom", "application/atom+xml", "Atom"),
                ("rss", "application/rss+xml", "RSS"),
                ("json", "application/feed+json", "JSON Feed"),
            ):
                out.append({"type": kind, "title": f"{title} ({label})", "href": f"{self.base}{stem}.{fmt}"})
        return out

    def page(self, template: str, *, title: str, **context: Any) -> bytes:
        site = clean_line(self.settings.title) or "paperboy"
        values: dict[str, Any] = {
            "lang": clean_line(self.settings.language) or "en",
            "base": self.base,
            "site": site,
            "subtitle": clean_line(self.settings.subtitle),
            "title": f"{title} — {site}" if title and title != site else site,
            "canonical": None,
            "alternates": self.alternates([(f"{site}: all papers", "feed")]),
            "meta": [],
            "og": [],
            "noindex": False,
            "query": None,
            "section": "papers",
        }
        values.update(context)
        return self.env.get_template(template).render(values).encode("utf-8")


def render_opml(settings: FeedSettings, catalogue: Catalogue, updated: datetime) -> bytes:
    """OPML 2.0: the main feed, then every category, topic and author feed, each kind in its own group.

    The head holds only elements OPML 2.0 defines (validators reject others such as docs).
    """
    base = base_url_of(settings)
    site = clean_line(settings.title) or "paperboy"
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{site}: every feed"
    etree.SubElement(head, "dateCreated").text = format_datetime(updated, usegmt=True)
    etree.SubElement(head, "dateModified").text = format_datetime(updated, usegmt=True)
    body = etree.SubElement(root, "body")
    etree.SubElement(
        body, "outline", type="rss", version="RSS", text=f"{site}: all papers", title=f"{site}: all papers",
        xmlUrl=f"{base}feed.atom", htmlUrl=base,
    )
    for group, links, prefix, html in (
        ("Categories", catalogue.categories, "category: ", "categories"),
        ("Topics", catalogue.topics, "topic: ", "topics"),
        ("Authors", catalogue.authors, "", "authors"),
    ):
        if not links:
            continue
        # A folder carries text alone: validators read title or xmlUrl without a type as a missing type.
        folder = etree.SubElement(body, "outline", text=group)
        for link in links:
            label = f"{prefix}{link.label}" if prefix else f"{link.label} — papers"
            etree.SubElement(
                folder, "outline", type="rss", version="RSS", text=label, title=label,
                xmlUrl=link.atom_url, htmlUrl=f"{base}{html}/{link.slug}",
            )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def feed_title(kind: str | None, name: str, site: str) -> str:
    """What a feed follows, first, so a reader's list says it: "Jae-Hun Lee — papers", "topic: SSL"."""
    if kind == "authors":
        return f"{name} — papers ({site})"
    if kind == "topics":
        return f"topic: {name} ({site})"
    if kind == "categories":
        return f"category: {name} ({site})"
    return site


def not_found(renderer: Renderer, *, heading: str, message: str, suggestions: Sequence[Chip] = ()) -> bytes:
    return renderer.page(
        "not_found.html",
        title=heading,
        heading=heading,
        message=message,
        suggestions=[{"label": s.label, "href": s.href, "note": s.count} for s in suggestions],
        noindex=True,
    )
