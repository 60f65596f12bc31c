"""Render papers as Atom 1.0, RSS 2.0 and JSON Feed 1.1 documents, byte for byte reproducibly."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from storage.cite import paper_path
from storage.models import Paper

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "paperboy"
# An empty feed still needs an `updated`; a fixed date keeps its bytes (and ETag) stable.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
CONTENT_TYPES: dict[str, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}

# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF),
# plus DEL and the C1 controls, which are never meaningful in a title or an abstract.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_SUMMARY_CHARS = 300


@dataclass(frozen=True)
class FeedSettings:
    """What every feed shares: its titles, where it is served, how many entries it holds."""

    title: str = "paperboy"
    subtitle: str = "New papers"
    base_url: str = "http://127.0.0.1:8080/"
    entries: int = 50
    author: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class FeedSpec:
    """One feed: where it lives under the base URL (without extension) and its titles."""

    path_stem: str  # "feed", "authors/jae-hun-lee", "topics/ssl", "categories/cv"
    title: str
    subtitle: str


def clean_text(value: str | None) -> str:
    """Remove characters XML cannot carry (and C1 controls) so no reader or serialiser chokes."""
    if not value:
        return ""
    return _BAD_CHARS.sub("", value)


def clean_line(value: str | None) -> str:
    """Clean text and fold every run of whitespace into one space (titles, names, terms)."""
    return _SPACES.sub(" ", clean_text(value)).strip()


def safe_url(value: str | None) -> str | None:
    """An absolute http(s) URL fit for an href attribute, or None.

    Other schemes (javascript:, data:, file:) are dropped: these links end up in
    HTML that readers render.
    """
    text = clean_line(value)
    if not text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode spaces, quotes and angle brackets; keep what URLs legitimately use.
    return quote(text, safe=":/?#[]@!$&'()*+,;=%~-._")


def base_url_of(settings: FeedSettings) -> str:
    """The settings' base URL, always ending in one slash."""
    return settings.base_url.rstrip("/") + "/"


def feed_url(settings: FeedSettings, spec: FeedSpec, fmt: str) -> str:
    """The absolute URL a feed is served at: base URL + path stem + extension."""
    return f"{base_url_of(settings)}{spec.path_stem}.{fmt}"


def feed_home(settings: FeedSettings, spec: FeedSpec) -> str:
    """The web page a feed follows: the author's, topic's or category's page, else the index."""
    kind = spec.path_stem.split("/", 1)[0]
    if kind in ("authors", "topics", "categories") and "/" in spec.path_stem:
        return base_url_of(settings) + spec.path_stem
    return base_url_of(settings)


def paper_page_url(settings: FeedSettings, paper: Paper) -> str:
    """The absolute URL of the paper's page on this site."""
    return base_url_of(settings) + paper_path(paper.key)


def entry_id(paper: Paper) -> str:
    """A tag: URI from the paper's key alone, so it survives rebuilds, restarts and moves."""
    return f"tag:paperboy,2024:paper/{quote(clean_line(paper.key), safe='/:-._~')}"


def feed_id(spec: FeedSpec) -> str:
    return f"tag:paperboy,2024:feed/{quote(spec.path_stem, safe='/-._~')}"


def _utc(value: datetime) -> datetime:
    """The instant in UTC, whole seconds (HTTP dates have no fractions; keep all dates alike)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def published_at(paper: Paper) -> datetime:
    """The paper's date at midnight UTC; when it has none, when the store first saw it."""
    if paper.published is not None:
        day = paper.published
        if isinstance(day, datetime):
            return _utc(day)
        if isinstance(day, date):
            return datetime.combine(day, time(0, 0), tzinfo=UTC)
    return _utc(paper.first_seen_at)


def updated_at(paper: Paper) -> datetime:
    """When the store last changed the paper's record (HTTP Last-Modified follows this)."""
    return _utc(paper.updated_at)


def revised(paper: Paper) -> bool:
    """Whether a later source changed what readers see (title, authors, DOI, version, ...).

    The store moves ``updated_at`` only when a merge changes a visible field; on first
    sight it equals ``first_seen_at``. (A restore from an export keeps the older first
    sighting, so its papers read as revised on the day of the restore: ids stay, so readers
    see an update, never a duplicate.)
    """
    return paper.updated_at.replace(tzinfo=paper.updated_at.tzinfo or UTC) != paper.first_seen_at.replace(
        tzinfo=paper.first_seen_at.tzinfo or UTC
    )


def entry_updated(paper: Paper) -> datetime:
    """An entry's Atom ``updated``: the paper's own date, or the day a reader-visible change came.

    Dates carry no time of day, and feed validators warn when two entries share an
    ``updated``; the time of day is therefore the store's row id in seconds, which is
    unique per paper (below 86,400 papers a day apart) and never changes.
    """
    day = paper.published if paper.published is not None else paper.first_seen_at.date()
    if isinstance(day, datetime):
        day = day.date()
    if revised(paper):
        day = max(day, _utc(paper.updated_at).date())
    return datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(seconds=paper.id % 86_400)


def feed_updated(papers: Sequence[Paper]) -> datetime:
    """The newest entry's `updated`, or a fixed date for an empty feed (never "now")."""
    if not papers:
        return EMPTY_FEED_UPDATED
    # Never older than an entry it holds (an entry's time of day is synthetic).
    return max(max(updated_at(p), entry_updated(p)) for p in papers)


def rfc3339(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _EntryView:
    """A paper's fields, cleaned once and shared by the three renderers."""

    id: str
    page: str
    title: str
    authors: tuple[str, ...]
    authors_truncated: bool
    abstract: str
    url: str | None
    pdf_url: str | None
    code_url: str | None
    doi_url: str | None
    categories: tuple[str, ...]
    published: datetime
    updated: datetime
    paper: Paper

    @property
    def summary(self) -> str:
        """A sentence or two: the abstract cut at a word boundary."""
        text = _SPACES.sub(" ", self.abstract).strip()
        if len(text) <= _SUMMARY_CHARS:
            return text
        cut = text[:_SUMMARY_CHARS].rsplit(" ", 1)[0].rstrip(",;:")
        return cut + "…"


def _view(paper: Paper, settings: FeedSettings) -> _EntryView:
    authors = tuple(a for a in (clean_line(name) for name in paper.authors) if a)
    categories: list[str] = []
    for term in (paper.category, *paper.categories):
        text = clean_line(term)
        if text and text not in categories:
            categories.append(text)
    url = safe_url(paper.url)
    pdf = safe_url(paper.pdf_url)
    code = safe_url(paper.code_url)
    doi = safe_url(f"https://doi.org/{paper.doi}") if paper.doi else None
    # Only give a link once: a source may report the same URL as page and PDF.
    seen = {url}
    pdf = None if pdf in seen else pdf
    seen.add(pdf)
    code = None if code in seen else code
    seen.add(code)
    doi = None if doi in seen else doi
    title = clean_line(paper.title) or f"Untitled paper {clean_line(paper.key)}"
    abstract = clean_text(paper.abstract).strip() or "No abstract available."
    return _EntryView(
        id=entry_id(paper),
        page=paper_page_url(settings, paper),
        title=title,
        authors=authors,
        authors_truncated=paper.authors_truncated,
        abstract=abstract,
        url=url,
        pdf_url=pdf,
        code_url=code,
        doi_url=doi,
        categories=tuple(categories),
        published=published_at(paper),
        updated=entry_updated(paper),
        paper=paper,
    )


def author_line(authors: Sequence[str], truncated: bool) -> str:
    """Names joined for display, with "et al." where the source cut the list short."""
    text = ", ".join(authors)
    if truncated:
        text = f"{text}, et al." if text else "et al."
    return text


def _entry_html(view: _EntryView) -> str:
    """The body shown by readers: authors, abstract and the paper's links, all escaped."""
    parts: list[str] = []
    names = author_line(view.authors, view.authors_truncated)
    if names:
        parts.append(f"<p>{html.escape(names)}</p>")
    parts.append(f"<p>{html.escape(view.abstract)}</p>")
    links = [
        (label, href)
        for label, href in (
            ("Details and BibTeX", view.page),
            ("Paper", view.url),
            ("PDF", view.pdf_url),
            ("Code", view.code_url),
            ("DOI", view.doi_url),
        )
        if href
    ]
    if links:
        anchors = " · ".join(f'<a href="{html.escape(href, quote=True)}">{label}</a>' for label, href in links)
        parts.append(f"<p>{anchors}</p>")
    return "\n".join(parts)


def _entry_links(view: _EntryView) -> list[dict[str, str]]:
    """Atom links for one entry: the paper's page as the one alternate, the rest rel=related with a title."""
    links: list[dict[str, str]] = [{"rel": "alternate", "type": "text/html", "href": view.page}]
    if view.url:
        links.append({"rel": "related", "type": "text/html", "title": "Paper", "href": view.url})
    if view.pdf_url:
        links.append({"rel": "related", "type": "application/pdf", "title": "PDF", "href": view.pdf_url})
    if view.code_url:
        links.append({"rel": "related", "type": "text/html", "title": "Code", "href": view.code_url})
    if view.doi_url:
        links.append({"rel": "related", "type": "text/html", "title": "DOI", "href": view.doi_url})
    return links


class _AtomLinksFeed(BaseExtension):
    """Feed half of the links extension: adds nothing, feedgen just requires one."""


class _AtomLinksEntry(BaseEntryExtension):
    """Writes an entry's Atom links with all their attributes.

    feedgen 1.0 drops everything but href from entry links, turning a PDF link into a
    second alternate; these links never pass through feedgen's own link code.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        for link in self.links:
            # feedgen builds un-namespaced elements under a literal xmlns attribute on the
            # root; a namespaced link here would serialise with a stray ns0: prefix.
            element = etree.SubElement(entry, "link")
            for name in ("rel", "type", "title", "href"):
                if link.get(name):
                    element.set(name, link[name])
        return entry


def _base_generator(spec: FeedSpec, settings: FeedSettings, papers: Sequence[Paper]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(feed_id(spec))
    fg.title(clean_line(spec.title) or clean_line(settings.title) or GENERATOR)
    fg.subtitle(clean_line(spec.subtitle) or clean_line(settings.subtitle) or "Papers")
    fg.language(clean_line(settings.language) or "en")
    fg.generator(GENERATOR)
    updated = feed_updated(papers)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    return fg


def render_atom(papers: Sequence[Paper], spec: FeedSpec, settings: FeedSettings) -> bytes:
    """An Atom 1.0 document (RFC 4287) of the papers, in the order given."""
    views = [_view(p, settings) for p in papers]
    fg = _base_generator(spec, settings, papers)
    fg.register_extension("paperboy_links", _AtomLinksFeed, _AtomLinksEntry, atom=True, rss=False)
    # A feed-level author keeps entries without listed authors valid (RFC 4287 4.1.1).
    fg.author({"name": clean_line(settings.author) or clean_line(settings.title) or GENERATOR})
    fg.link(href=feed_url(settings, spec, "atom"), rel="self", type="application/atom+xml")
    fg.link(href=feed_home(settings, spec), rel="alternate", type="text/html")
    for view in views:
        fe = fg.add_entry(order="append")
        fe.id(view.id)
        fe.title(view.title)
        fe.updated(view.updated)
        fe.published(view.published)
        for name in view.authors:
            fe.author({"name": name})
        # Content is always present, so feedgen's "alternate link or content" check passes
        # and entries without a known URL stay valid.
        fe.content(_entry_html(view), type="html")
        fe.summary(view.abstract)
        for term in view.categories:
            fe.category(term=term)
        fe.paperboy_links.links = _entry_links(view)
    return fg.atom_str(pretty=True, encoding="UTF-8")


def render_rss(papers: Sequence[Paper], spec: FeedSpec, settings: FeedSettings) -> bytes:
    """An RSS 2.0 document of the papers, in the order given."""
    views = [_view(p, settings) for p in papers]
    fg = _base_generator(spec, settings, papers)
    fg.load_extension("dc", atom=False, rss=True)
    fg.pubDate(feed_updated(papers))
    # The channel's <link> is feedgen's last link call: self first, the alternate last.
    fg.link(href=feed_url(settings, spec, "rss"), rel="self", type="application/rss+xml")
    fg.link(href=feed_home(settings, spec), rel="alternate", type="text/html")
    for view in views:
        fe = fg.add_entry(order="append")
        fe.title(view.title)
        fe.guid(view.id, permalink=False)
        fe.link(href=view.page, rel="alternate")
        fe.description(_entry_html(view))
        fe.published(view.published)
        if view.authors:
            # One dc:creator holding every name: readers given several show only the last.
            fe.dc.dc_creator(author_line(view.authors, view.authors_truncated))
        for term in view.categories:
            fe.category(term=term)
    return fg.rss_str(pretty=True, encoding="UTF-8")


def render_json(papers: Sequence[Paper], spec: FeedSpec, settings: FeedSettings) -> bytes:
    """A JSON Feed 1.1 document of the papers, in the order given."""
    items: list[dict[str, object]] = []
    for view in (_view(p, settings) for p in papers):
        item: dict[str, object] = {"id": view.id, "url": view.page}
        if view.url or view.code_url:
            item["external_url"] = view.url or view.code_url
        item["title"] = view.title
        item["content_text"] = view.abstract
        item["content_html"] = _entry_html(view)
        item["summary"] = view.summary
        item["date_published"] = rfc3339(view.published)
        item["date_modified"] = rfc3339(view.updated)
        if view.authors:
            item["authors"] = [{"name": name} for name in view.authors]
        if view.categories:
            item["tags"] = list(view.categories)
        if view.pdf_url:
            item["attachments"] = [{"url": view.pdf_url, "mime_type": "application/pdf", "title": "PDF"}]
        paper = view.paper
        item["_paperboy"] = {
            "key": clean_line(paper.key),
            "arxiv_id": clean_line(paper.arxiv_id) or None,
            "doi": clean_line(paper.doi) or None,
            "pdf_url": view.pdf_url,
            "code_url": view.code_url,
            "authors_truncated": view.authors_truncated,
        }
        items.append(item)
    document: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": clean_line(spec.title) or clean_line(settings.title) or GENERATOR,
        "home_page_url": feed_home(settings, spec),
        "feed_url": feed_url(settings, spec, "json"),
        "description": clean_line(spec.subtitle) or clean_line(settings.subtitle),
        "language": clean_line(settings.language) or "en",
    }
    if clean_line(settings.author):
        document["authors"] = [{"name": clean_line(settings.author)}]
    document["items"] = items
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_all(papers: Sequence[Paper], spec: FeedSpec, settings: FeedSettings) -> dict[str, bytes]:
    """All three documents of one feed: {"atom": ..., "rss": ..., "json": ...}."""
    return {
        "atom": render_atom(papers, spec, settings),
        "rss": render_rss(papers, spec, settings),
        "json": render_json(papers, spec, settings),
    }
