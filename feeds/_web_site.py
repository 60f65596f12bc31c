"""What the feed site holds: which feeds exist and how each served document is built from the store."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol

from feeds._web_render import Catalogue, Chip, FeedLink, Renderer, feed_title, not_found, render_opml
from feeds.publish import (
    CONTENT_TYPES,
    FeedSettings,
    FeedSpec,
    clean_line,
    feed_updated,
    render_all,
)
from storage.models import AuthorMatch, AuthorProfile, Paper, Topic
from storage.pages import author_name

log = logging.getLogger(__name__)

# Slugs as the store makes them: folded word pieces joined by hyphens. Nothing else reaches
# a query or a file name, so no path can climb out of its folder.
SLUG_RE = re.compile(r"^[^\W_]+(?:-[^\W_]+)*$")
CATEGORY_RE = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")
MAX_SLUG = 120
MAX_QUERY = 200
MAX_LIMIT = 100
FEED_KINDS = ("authors", "topics", "categories")
FORMATS = ("atom", "rss", "json")
HTML_TYPE = "text/html; charset=utf-8"
OPML_TYPE = "text/x-opml; charset=utf-8"
# Gzip with a fixed mtime so the compressed bytes (and their ETag) repeat across builds.
_GZIP_LEVEL = 6


class FeedStore(Protocol):
    """The part of storage.store.Store the feed site reads."""

    async def latest(
        self,
        limit: int = 50,
        *,
        author_key: str | None = None,
        topic_slug: str | None = None,
        category: str | None = None,
    ) -> list[Paper]: ...

    async def search(self, query: str, limit: int = 10, offset: int = 0) -> list[Paper]: ...

    async def match_authors(self, query: str, limit: int = 25) -> list[AuthorMatch]: ...

    async def author_profile(self, key: str) -> AuthorProfile | None: ...

    async def topics(self) -> list[Topic]: ...

    async def topic(self, slug: str) -> Topic | None: ...

    async def categories(self) -> list[tuple[str, int]]: ...

    async def all_papers(self) -> list[Paper]: ...

    async def data_version(self) -> int: ...

    @property
    def db(self) -> Any: ...


@dataclass(frozen=True)
class Document:
    """One response body, built once: its bytes, gzip form, validators and type."""

    body: bytes
    content_type: str
    last_modified: datetime | None = None
    gzipped: bytes = field(init=False, repr=False)
    etag: str = field(init=False)
    gzip_etag: str = field(init=False)
    # The Last-Modified header's text, formatted once: formatting it per request was 6% of
    # the server's time serving a cached feed.
    http_last_modified: str | None = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.body).hexdigest()[:32]
        object.__setattr__(self, "gzipped", gzip.compress(self.body, _GZIP_LEVEL, mtime=0))
        # A strong ETag names exact bytes, so the gzip form gets its own.
        object.__setattr__(self, "etag", f'"{digest}"')
        object.__setattr__(self, "gzip_etag", f'"{digest}-gz"')
        modified = None if self.last_modified is None else http_date(self.last_modified)
        object.__setattr__(self, "http_last_modified", modified)


def http_date(value: datetime) -> str:
    """A time as an HTTP date (RFC 9110), to the second."""
    return format_datetime(value.astimezone(UTC).replace(microsecond=0), usegmt=True)


@dataclass(frozen=True)
class Missing:
    """A feed that does not exist, with the page that says how to find the right one."""

    document: Document


@dataclass(frozen=True)
class Moved:
    """A feed asked for under a non-canonical spelling; the canonical slug to redirect to."""

    slug: str


def papers_note(count: int) -> str:
    return "1 paper" if count == 1 else f"{count} papers"


def valid_slug(kind: str, slug: str) -> bool:
    if not slug or len(slug) > MAX_SLUG:
        return False
    pattern = CATEGORY_RE if kind == "categories" else SLUG_RE
    return bool(pattern.match(slug))


def feed_path(kind: str | None, slug: str | None, fmt: str) -> str:
    """The URL path (from the site root, no leading slash) of a feed."""
    return f"feed.{fmt}" if kind is None else f"{kind}/{slug}.{fmt}"


class Site:
    """Builds every document the feed server and the static export serve."""

    def __init__(self, store: FeedStore, settings: FeedSettings) -> None:
        self.store = store
        self.settings = settings
        self._catalogue: tuple[int, Catalogue] | None = None
        self.renderer = Renderer(settings)

    @property
    def base(self) -> str:
        return self.settings.base_url.rstrip("/") + "/"

    @property
    def site_name(self) -> str:
        return clean_line(self.settings.title) or "paperboy"

    def _not_found(self, what: str, asked: str, suggestions: Sequence[FeedLink], hint: str) -> Missing:
        return Missing(Document(not_found(
            self.renderer,
            heading=f"No {what} feed “{clean_line(asked)[:120]}”",
            message=f"There is no {what} feed named “{clean_line(asked)[:120]}” here. {hint}",
            suggestions=[Chip(s.label, s.atom_url) for s in suggestions],
        ), HTML_TYPE))

    # -- feeds -----------------------------------------------------------------

    async def feed(
        self, kind: str | None, slug: str | None, limit: int | None = None
    ) -> dict[str, Document] | Missing | Moved:
        """The three formats of one feed, a redirect to its canonical slug, or a 404 page."""
        count = limit or self.settings.entries
        if kind is None:
            spec = FeedSpec("feed", self.site_name, self.settings.subtitle)
            return await self._feed_documents(await self.store.latest(count), spec)
        assert slug is not None
        if kind == "authors":
            return await self._author_feed(slug, count)
        if kind == "topics":
            return await self._topic_feed(slug, count)
        if kind == "categories":
            return await self._category_feed(slug, count)
        raise ValueError(f"unknown feed kind {kind!r}")

    async def _feed_documents(self, papers: Sequence[Paper], spec: FeedSpec) -> dict[str, Document]:
        def build() -> dict[str, Document]:
            rendered = render_all(papers, spec, self.settings)
            updated = feed_updated(papers)
            return {fmt: Document(body, CONTENT_TYPES[fmt], updated) for fmt, body in rendered.items()}

        # Three serialisations and their gzip forms: a worker thread, so the loop keeps answering.
        return await asyncio.to_thread(build)

    async def _author_feed(self, slug: str, count: int) -> dict[str, Document] | Missing | Moved:
        # Key and name only: a full profile reads every paper of the author, which grows with the store.
        profile = await author_name(self.store, slug) if valid_slug("authors", slug) else None  # type: ignore[arg-type]
        if profile is None:
            return await self._missing_author(slug)
        if profile.key != slug:
            return Moved(profile.key)
        papers = await self.store.latest(count, author_key=profile.key)
        name = clean_line(profile.name)
        spec = FeedSpec(f"authors/{profile.key}", feed_title("authors", name, self.site_name), f"New papers by {name}")
        return await self._feed_documents(papers, spec)

    async def _missing_author(self, slug: str) -> Missing:
        # Slugs spell names with hyphens; the fuzzy matcher wants the name back.
        query = slug.replace("-", " ").replace("_", " ")[:MAX_QUERY]
        matches = await self.store.match_authors(query, limit=8) if query.strip() else []
        suggestions = [
            FeedLink(m.name, f"{self.base}authors/{m.key}.atom", papers_note(m.papers))
            for m in matches
            if valid_slug("authors", m.key)
        ]
        return self._not_found(
            "author", slug, suggestions, "Author feeds are named by the author's key: the name in lower case, "
            "accents dropped, pieces joined by hyphens (Jae-Hun Lee is jae-hun-lee).",
        )

    async def _topic_feed(self, slug: str, count: int) -> dict[str, Document] | Missing | Moved:
        topic = await self.store.topic(slug) if valid_slug("topics", slug) else None
        if topic is None:
            return await self._missing_topic(slug)
        if topic.slug != slug:
            return Moved(topic.slug)
        papers = await self.store.latest(count, topic_slug=topic.slug)
        name = clean_line(topic.name)
        if topic.expansion:
            name = f"{name} ({clean_line(topic.expansion)})"
        spec = FeedSpec(f"topics/{topic.slug}", feed_title("topics", name, self.site_name), f"New papers on {name}")
        return await self._feed_documents(papers, spec)

    async def _missing_topic(self, slug: str) -> Missing:
        wanted = slug.lower()
        topics = await self.store.topics()
        close = [t for t in topics if wanted and (wanted in t.slug or t.slug in wanted)]
        suggestions = [
            FeedLink(t.name, f"{self.base}topics/{t.slug}.atom", papers_note(t.papers))
            for t in (close or topics)[:8]
            if valid_slug("topics", t.slug)
        ]
        return self._not_found("topic", slug, suggestions, "Topic feeds are named by the topic's slug, e.g. ssl or "
                    "domain-adaptation; the index lists every topic.")

    async def _category_feed(self, code: str, count: int) -> dict[str, Document] | Missing | Moved:
        categories = await self.store.categories() if valid_slug("categories", code) else []
        found = next((c for c, _ in categories if c.lower() == code.lower()), None)
        if found is None:
            return await self._missing_category(code)
        if code != found.lower():
            return Moved(found.lower())
        papers = await self.store.latest(count, category=found)
        spec = FeedSpec(
            f"categories/{found.lower()}",
            feed_title("categories", clean_line(found), self.site_name),
            f"New papers in {clean_line(found)}",
        )
        return await self._feed_documents(papers, spec)

    async def _missing_category(self, code: str) -> Missing:
        suggestions = [
            FeedLink(c, f"{self.base}categories/{c.lower()}.atom", papers_note(n))
            for c, n in await self.store.categories()
            if valid_slug("categories", c)
        ]
        return self._not_found(
            "category", code, suggestions, "Category feeds are named by the category code in lower case."
        )

    # -- pages -----------------------------------------------------------------

    async def catalogue(self) -> Catalogue:
        """Every feed the site serves, for the index, the OPML list and the static export.

        It reads every paper, so it is kept until the store's data version changes:
        search pages, built per query, reuse it.
        """
        version = await self.store.data_version()
        if self._catalogue is not None and self._catalogue[0] == version:
            return self._catalogue[1]
        catalogue = await self._build_catalogue()
        self._catalogue = (version, catalogue)
        return catalogue

    async def _build_catalogue(self) -> Catalogue:
        # Counted in SQL: the catalogue never loads the papers themselves.
        rows = await self.store.db.fetchall(
            "SELECT a.key, a.name, count(DISTINCT pa.paper_id) AS n FROM authors a"
            " JOIN paper_authors pa ON pa.author_id = a.id GROUP BY a.id ORDER BY n DESC, a.key"
        )
        authors = [
            FeedLink(clean_line(name), f"{self.base}authors/{key}.atom", papers_note(int(n)), key)
            for key, name, n in rows
            if valid_slug("authors", key)
        ]
        topics = [
            FeedLink(
                clean_line(t.name) + (f" ({clean_line(t.expansion)})" if t.expansion else ""),
                f"{self.base}topics/{t.slug}.atom",
                papers_note(t.papers),
                t.slug,
            )
            for t in await self.store.topics()
            if valid_slug("topics", t.slug)
        ]
        categories = [
            FeedLink(c, f"{self.base}categories/{c.lower()}.atom", papers_note(n), c.lower())
            for c, n in await self.store.categories()
            if valid_slug("categories", c)
        ]
        return Catalogue(authors=authors, topics=topics, categories=categories)

    async def opml(self) -> Document:
        catalogue = await self.catalogue()
        newest = await self.store.latest(1)
        updated = feed_updated(newest)
        return Document(render_opml(self.settings, catalogue, updated), OPML_TYPE, updated)
