"""The site's HTML pages: the index with filters and search, and a page per paper, author, topic and category.

Every page reads one bounded page of rows from storage.pages and renders off the event
loop, so neither its size nor its build time grows with the store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from feeds._web_render import Chip, Renderer, category_slug, entry, not_found, pager, query_url
from feeds._web_site import HTML_TYPE, MAX_QUERY, Document, Missing, Moved, valid_slug
from feeds.publish import (
    FeedSettings,
    clean_line,
    clean_text,
    paper_page_url,
    paper_path,
    safe_url,
    updated_at,
)
from storage import cite
from storage import pages as q
from storage.models import Paper
from storage.store import Store
from storage.text import author_key

log = logging.getLogger(__name__)

PER_PAGE = 25
DIRECTORY_PER_PAGE = 100
BIB_TYPE = "application/x-bibtex; charset=utf-8"


def _date(paper: Paper) -> str:
    return paper.published.strftime("%Y/%m/%d") if paper.published else ""


class Pages:
    """Builds each HTML page from the store; the web layer caches and serves them."""

    def __init__(self, store: Store, settings: FeedSettings, renderer: Renderer) -> None:
        self.store = store
        self.settings = settings
        self.r = renderer

    @property
    def base(self) -> str:
        return self.r.base

    async def _html(self, template: str, modified: Any = None, **context: Any) -> Document:
        # Templates and gzip run in a worker thread: the event loop keeps answering meanwhile.
        def build() -> Document:
            return Document(self.r.page(template, **context), HTML_TYPE, modified)

        return await asyncio.to_thread(build)

    async def _entries(self, papers: list[Paper]) -> list[Any]:
        keys = await q.author_keys(self.store, [p.id for p in papers])
        return [entry(self.settings, p, keys.get(p.id)) for p in papers]

    # -- index and search --------------------------------------------------------

    async def index(self, *, query: str | None, filters: q.Filters, page: int) -> Document:
        params: dict[str, Any] = {
            "q": query, "year": filters.year, "category": filters.category, "topic": filters.topic,
        }
        if query:
            found = await q.search_papers(self.store, query, page=page, per_page=PER_PAGE)
            shown = clean_line(query)
            heading = f"Results for “{shown}”"
            list_heading = f"{found.total} paper{'s' if found.total != 1 else ''} match, best first"
            empty = f"No papers match “{shown}”. Try fewer or other words, or an acronym such as SSL."
            years: list[Chip] = []
            categories: list[Chip] = []
            topics: list[Chip] = []
        else:
            found = await q.list_papers(self.store, filters, page=page, per_page=PER_PAGE)
            heading, list_heading = self._index_heading(filters), "Newest first"
            empty = "No papers match these filters." if any(v for k, v in params.items() if k != "q") \
                else "No papers yet."
            years = [
                Chip(str(y), query_url(self.base, "", {**params, "year": None if y == filters.year else y}), n,
                     y == filters.year)
                for y, n in await q.year_counts(self.store, filters)
            ]
            categories = [
                Chip(clean_line(c), query_url(self.base, "", {
                    **params, "category": None if filters.category and c.lower() == filters.category.lower() else c,
                }), n, bool(filters.category and c.lower() == filters.category.lower()))
                for c, n in (await self.store.categories())[:40]
            ]
            topics = [
                Chip(clean_line(t.name), query_url(self.base, "", {
                    **params, "topic": None if t.slug == filters.topic else t.slug,
                }), t.papers, t.slug == filters.topic)
                for t in await q.top_topics(self.store, limit=20)
            ]
        entries = await self._entries(found.papers)
        filtered = bool(query or filters.year or filters.category or filters.topic)
        return await self._html(
            "index.html",
            title=heading if filtered else "",
            heading=heading,
            lead=clean_line(self.settings.subtitle) if not filtered else "",
            clear=self.base if filtered else None,
            years=years,
            categories=categories,
            topics=topics,
            list_heading=list_heading,
            entries=entries,
            empty=empty,
            nav=pager(self.base, "", params, found.page, found.pages),
            query=clean_line(query) if query else None,
            canonical=query_url(self.base, "", {**params, "page": found.page}) if not query else None,
            noindex=bool(query),
        )

    def _index_heading(self, filters: q.Filters) -> str:
        parts = []
        if filters.topic:
            parts.append(f"topic {filters.topic}")
        if filters.category:
            parts.append(f"category {clean_line(filters.category)}")
        if filters.year:
            parts.append(str(filters.year))
        return "Papers: " + ", ".join(parts) if parts else "Newest papers"

    # -- one paper ---------------------------------------------------------------

    async def _paper(self, key: str) -> Paper | Moved | None:
        paper = await self.store.get_paper(key[:300])
        if paper is None:
            return None
        if paper.key != key:
            return Moved(paper_page_url(self.settings, paper))
        return paper

    async def _missing_paper(self, key: str) -> Missing:
        near = await self.store.search(key[:MAX_QUERY], limit=5) if key.strip() else []
        return Missing(Document(not_found(
            self.r,
            heading="No such paper",
            message=f"No paper here has the key “{clean_line(key)[:120]}”. Keys are arXiv ids, DOIs or "
            "title slugs; search for the title instead.",
            suggestions=[Chip(clean_line(p.title), paper_page_url(self.settings, p)) for p in near],
        ), HTML_TYPE))

    async def paper(self, key: str) -> Document | Missing | Moved:
        found = await self._paper(key)
        if found is None:
            return await self._missing_paper(key)
        if isinstance(found, Moved):
            return found
        paper = found
        authors = (await q.author_keys(self.store, [paper.id]))[paper.id]
        view = entry(self.settings, paper, authors)
        topics = await q.paper_topics(self.store, paper.id)
        page_url = paper_page_url(self.settings, paper)
        links = [
            (label, href)
            for label, href in (
                ("Paper", safe_url(paper.url)),
                ("PDF", safe_url(paper.pdf_url)),
                ("Code", safe_url(paper.code_url)),
                (f"DOI {clean_line(paper.doi)}", safe_url(f"https://doi.org/{paper.doi}") if paper.doi else None),
            )
            if href
        ]
        links = list(dict.fromkeys(links))
        follow = [{"label": f"{name} — papers", "stem": f"authors/{akey}"}
                  for name, akey, _ in authors if valid_slug("authors", akey)]
        follow += [{"label": f"topic: {clean_line(t.name)}", "stem": f"topics/{t.slug}"}
                   for t in topics if valid_slug("topics", t.slug)]
        if view.category and valid_slug("categories", view.category_slug):
            follow.append({"label": f"category: {view.category}", "stem": f"categories/{view.category_slug}"})
        follow.append({"label": "All papers", "stem": "feed"})
        site = clean_line(self.settings.title) or "paperboy"
        names = [n for n, _ in view.authors]
        meta = [("citation_title", view.title)]
        meta += [("citation_author", n) for n in names]
        if paper.published:
            meta.append(("citation_publication_date", _date(paper)))
            meta.append(("citation_date", _date(paper)))
        if paper.doi:
            meta.append(("citation_doi", clean_line(paper.doi)))
        if paper.arxiv_id:
            meta.append(("citation_arxiv_id", clean_line(paper.arxiv_id)))
        if paper.journal_ref:
            meta.append(("citation_journal_title", clean_line(paper.journal_ref)))
        if safe_url(paper.pdf_url):
            meta.append(("citation_pdf_url", safe_url(paper.pdf_url) or ""))
        meta.append(("citation_abstract_html_url", page_url))
        abstract = clean_text(paper.abstract).strip()
        summary = " ".join(abstract.split())[:280]
        meta.append(("description", summary or view.title))
        byline = ", ".join(names[:6]) + (" et al." if len(names) > 6 or paper.authors_truncated else "")
        og = [
            ("og:type", "article"),
            ("og:site_name", site),
            ("og:title", view.title),
            ("og:description", (f"{byline}. " if byline else "") + summary),
            ("og:url", page_url),
        ]
        if paper.published:
            og.append(("article:published_time", paper.published.isoformat()))
        og += [("article:author", n) for n in names[:10]]
        alternates = self.r.alternates((f["label"], f["stem"]) for f in follow if f["stem"] != "feed")
        alternates = [a for a in alternates if a["type"] == "application/atom+xml"]
        alternates += self.r.alternates([(f"{site}: all papers", "feed")])
        return await self._html(
            "paper.html",
            updated_at(paper),
            title=view.title,
            entry=view,
            inferred=[clean_line(n) for n, _, inferred in authors if inferred],
            extra_categories=[clean_line(c) for c in paper.categories if c and c != paper.category],
            topics=[{"slug": t.slug, "label": clean_line(t.name)} for t in topics if valid_slug("topics", t.slug)],
            links=links,
            journal=clean_line(paper.journal_ref),
            sources=[clean_line(s) for s in paper.sources],
            first_seen=paper.first_seen_at.date().isoformat(),
            key=clean_line(paper.key),
            abstract=abstract or "No abstract available.",
            bibtex=cite.bibtex(paper, url=page_url),
            cite_key=cite.citation_key(paper),
            bib_url=f"{self.base}{paper_path(paper.key)}.bib",
            follow=follow,
            canonical=page_url,
            meta=meta,
            og=og,
            alternates=alternates,
        )

    async def paper_bib(self, key: str) -> Document | Missing | Moved:
        found = await self._paper(key)
        if found is None:
            return await self._missing_paper(key)
        if isinstance(found, Moved):
            return Moved(found.slug + ".bib")
        body = cite.bibtex(found, url=paper_page_url(self.settings, found)).encode("utf-8")
        return Document(body, BIB_TYPE, updated_at(found))

    # -- author, topic, category -------------------------------------------------

    async def author(self, slug: str, *, year: int | None, page: int) -> Document | Missing | Moved:
        summary = await q.author_summary(self.store, slug) if valid_slug("authors", slug) else None
        if summary is None:
            folded = author_key(slug.replace("-", " ")[:MAX_QUERY])
            if folded and folded != slug and await q.author_summary(self.store, folded):
                return Moved(f"{self.base}authors/{folded}")
            matches = await self.store.match_authors(slug.replace("-", " ")[:MAX_QUERY], limit=8) \
                if slug.strip("-") else []
            return Missing(Document(not_found(
                self.r,
                heading="No such author",
                message=f"No author here has the key “{clean_line(slug)[:120]}”. Author keys are the name in "
                "lower case, accents dropped, pieces joined by hyphens (Jae-Hun Lee is jae-hun-lee).",
                suggestions=[Chip(m.name, f"{self.base}authors/{m.key}", m.papers) for m in matches
                             if valid_slug("authors", m.key)],
            ), HTML_TYPE))
        filters = q.Filters(author=summary.key, year=year)
        found = await q.list_papers(self.store, filters, page=page, per_page=PER_PAGE)
        name = clean_line(summary.name)
        path = f"authors/{summary.key}"
        years_text = f", {summary.years[-1][0]}–{summary.years[0][0]}" if summary.years else ""
        groups = [
            ("Years", [Chip(str(y), query_url(self.base, path, {"year": None if y == year else y}), n, y == year)
                       for y, n in summary.years]),
            ("Topics", [Chip(clean_line(n), f"{self.base}topics/{s}", c) for s, n, c in summary.topics
                        if valid_slug("topics", s)]),
            ("Co-authors", [Chip(clean_line(n), f"{self.base}authors/{k}", c) for k, n, c in summary.coauthors
                            if valid_slug("authors", k)]),
        ]
        return await self._html(
            "listing.html",
            title=f"{name} — papers",
            heading=name,
            lead=f"{summary.papers} paper{'s' if summary.papers != 1 else ''}{years_text}.",
            follow_label=f"{name}'s papers",
            feed_stem=path,
            groups=groups,
            list_heading=f"Papers in {year}" if year else "Papers, newest first",
            entries=await self._entries(found.papers),
            empty="No papers in this year.",
            nav=pager(self.base, path, {"year": year}, found.page, found.pages),
            canonical=query_url(self.base, path, {"year": year, "page": found.page}),
            alternates=self.r.alternates([(f"{name} — papers", path)]),
            section="authors",
            og=[("og:type", "profile"), ("og:title", f"{name} — papers"), ("og:url", f"{self.base}{path}")],
        )

    async def topic(self, slug: str, *, year: int | None, page: int) -> Document | Missing | Moved:
        topic = await self.store.topic(slug) if valid_slug("topics", slug) else None
        if topic is None:
            wanted = slug.lower()
            close = [t for t in (await q.list_topics(self.store, per_page=400))[0]
                     if wanted and (wanted in t.slug or t.slug in wanted)][:8]
            return Missing(Document(not_found(
                self.r,
                heading="No such topic",
                message=f"No topic here is called “{clean_line(slug)[:120]}”. The Topics page lists them all.",
                suggestions=[Chip(clean_line(t.name), f"{self.base}topics/{t.slug}", t.papers) for t in close],
            ), HTML_TYPE))
        if topic.slug != slug:
            return Moved(f"{self.base}topics/{topic.slug}")
        name = clean_line(topic.name)
        label = f"{name} ({clean_line(topic.expansion)})" if topic.expansion else name
        return await self._listing(
            f"topics/{topic.slug}", q.Filters(topic=topic.slug, year=year), page,
            heading=f"Topic: {label}", follow=f"topic: {label}", section="topics",
        )

    async def category(self, code: str, *, year: int | None, page: int) -> Document | Missing | Moved:
        categories = await self.store.categories() if valid_slug("categories", code) else []
        found = next((c for c, _ in categories if c.lower() == code.lower()), None)
        if found is None:
            return Missing(Document(not_found(
                self.r,
                heading="No such category",
                message=f"No category here is called “{clean_line(code)[:120]}”.",
                suggestions=[Chip(clean_line(c), f"{self.base}categories/{category_slug(c)}", n)
                             for c, n in categories[:20]],
            ), HTML_TYPE))
        if code != category_slug(found):
            return Moved(f"{self.base}categories/{category_slug(found)}")
        label = clean_line(found)
        return await self._listing(
            f"categories/{category_slug(found)}", q.Filters(category=found, year=year), page,
            heading=f"Category: {label}", follow=f"category: {label}", section="papers",
        )

    async def _listing(
        self, path: str, filters: q.Filters, page: int, *, heading: str, follow: str, section: str
    ) -> Document:
        found = await q.list_papers(self.store, filters, page=page, per_page=PER_PAGE)
        years = await q.year_counts(self.store, filters)
        year = filters.year
        chips = [Chip(str(y), query_url(self.base, path, {"year": None if y == year else y}), n, y == year)
                 for y, n in years]
        return await self._html(
            "listing.html",
            title=heading,
            heading=heading,
            lead=f"{found.total} paper{'s' if found.total != 1 else ''}{' in ' + str(year) if year else ''}.",
            follow_label=follow,
            feed_stem=path,
            groups=[("Years", chips)],
            list_heading=f"Papers in {year}" if year else "Papers, newest first",
            entries=await self._entries(found.papers),
            empty="No papers here yet.",
            nav=pager(self.base, path, {"year": year}, found.page, found.pages),
            canonical=query_url(self.base, path, {"year": year, "page": found.page}),
            alternates=self.r.alternates([(follow, path)]),
            section=section,
        )

    # -- directories -------------------------------------------------------------

    async def authors(self, page: int) -> Document:
        rows, total = await q.list_authors(self.store, page=page, per_page=DIRECTORY_PER_PAGE)
        pages = max(1, -(-total // DIRECTORY_PER_PAGE))
        page = max(1, min(page, pages))
        return await self._html(
            "directory.html",
            title="Authors",
            heading="Authors",
            lead=f"{total} authors, most papers first. Each has a page and a feed.",
            rows=[{"label": clean_line(n), "href": f"{self.base}authors/{k}", "count": c, "stem": f"authors/{k}"}
                  for k, n, c in rows if valid_slug("authors", k)],
            nav=pager(self.base, "authors/", {}, page, min(pages, q.MAX_PAGE)),
            section="authors",
        )

    async def topics(self, page: int) -> Document:
        rows, total = await q.list_topics(self.store, page=page, per_page=DIRECTORY_PER_PAGE)
        pages = max(1, -(-total // DIRECTORY_PER_PAGE))
        page = max(1, min(page, pages))
        return await self._html(
            "directory.html",
            title="Topics",
            heading="Topics",
            lead=f"{total} topics learnt from titles and abstracts, most papers first.",
            rows=[{"label": clean_line(t.name) + (f" ({clean_line(t.expansion)})" if t.expansion else ""),
                   "href": f"{self.base}topics/{t.slug}", "count": t.papers, "stem": f"topics/{t.slug}"}
                  for t in rows if valid_slug("topics", t.slug)],
            nav=pager(self.base, "topics/", {}, page, min(pages, q.MAX_PAGE)),
            section="topics",
        )

    def stylesheet(self) -> Document:
        return Document(self.r.stylesheet, "text/css; charset=utf-8")
