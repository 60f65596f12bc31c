"""The HTTP face of the feeds: an aiohttp app serving Atom/RSS/JSON feeds, the site's pages and OPML.

Work per request is bounded: pages are one page of rows, built documents live in a cache
with a byte budget (search results are never cached), at most a few builds run at once,
and a build that runs past the time limit answers 503 instead of holding the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from feeds._web_cache import VersionedCache, document_size, not_modified, wants_gzip
from feeds._web_http import SiteRunner
from feeds._web_pages import Pages
from feeds._web_site import (
    CATEGORY_RE,
    FEED_KINDS,
    FORMATS,
    MAX_LIMIT,
    MAX_QUERY,
    SLUG_RE,
    Document,
    FeedStore,
    Missing,
    Moved,
    Site,
    feed_path,
)
from feeds.publish import FeedSettings
from storage.pages import MAX_PAGE, Filters

log = logging.getLogger(__name__)

__all__ = ["SiteRunner", "add_health_check", "invalidate", "make_app"]

HealthCheck = Callable[[], Awaitable[Mapping[str, Any]]]
CachedFeed = dict[str, Document] | Missing | Moved

SITE_KEY = web.AppKey("paperboy_site", Site)
PAGES_KEY = web.AppKey("paperboy_pages", Pages)
LIMITS_KEY = web.AppKey("paperboy_limits", dict)
CACHE_KEY = web.AppKey("paperboy_cache", VersionedCache)
HEALTH_KEY = web.AppKey("paperboy_health", list)  # list[HealthCheck]
CACHE_CONTROL = "public, max-age=300"


def make_app(
    store: FeedStore,
    settings: FeedSettings,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] | None = None,
    health: HealthCheck | None = None,
    check_interval: float = 1.0,
    cache_bytes: int = 32 * 1024 * 1024,
    time_limit: float = 10.0,
    build_slots: int = 4,
) -> web.Application:
    """The feed server.

    ``store`` is an open storage.store.Store (the caller owns and closes it);
    ``extra_routes`` are added as they are (e.g. ``/metrics``); ``health`` is an
    async callable whose mapping is merged into ``/healthz``'s JSON (a "status"
    other than "ok" turns the answer into a 503). Call ``invalidate(app)`` after
    an ingest so the next request rebuilds without waiting for the version check.
    ``cache_bytes`` caps what built documents may hold; ``time_limit`` (seconds) caps one
    build, waiting included; ``build_slots`` is how many builds may run at once.
    """
    app = web.Application(middlewares=[_not_found_middleware])
    site = Site(store, settings)
    app[SITE_KEY] = site
    app[PAGES_KEY] = Pages(store, settings, site.renderer)  # type: ignore[arg-type]
    app[CACHE_KEY] = VersionedCache(
        store.data_version, check_interval=check_interval, max_bytes=cache_bytes, size=document_size
    )
    app[HEALTH_KEY] = [health] if health is not None else []
    app[LIMITS_KEY] = {"time": time_limit, "slots": asyncio.Semaphore(build_slots)}
    app.add_routes(
        [
            web.get("/", index),
            web.get("/static/style.css", stylesheet),
            web.get("/feeds.opml", opml),
            web.get("/healthz", healthz),
            # Plain paths, not one pattern: the most requested URLs are found without a regex.
            *(web.get(f"/feed.{fmt}", _main_feed(fmt)) for fmt in FORMATS),
            web.get(r"/{kind:authors|topics|categories}/{slug:[^/]+}.{fmt:atom|rss|json}", feed),
            web.get("/authors/", authors_directory),
            web.get("/topics/", topics_directory),
            web.get(r"/{kind:authors|topics|categories}/{slug:[^/]+}", listing_page),
            web.get(r"/papers/{key:.+}.bib", paper_bib),
            web.get(r"/papers/{key:.+}", paper_page),
        ]
    )
    if extra_routes:
        app.add_routes(list(extra_routes))
    return app


def invalidate(app: web.Application) -> None:
    """Drop the built documents: the next request rebuilds from the store."""
    app[CACHE_KEY].invalidate()


def add_health_check(app: web.Application, check: HealthCheck) -> None:
    """Add one more async check to /healthz (before the app starts)."""
    app[HEALTH_KEY].append(check)


# -- request parsing ---------------------------------------------------------------------


def _limit(request: web.Request) -> int | None:
    raw = request.query.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}; got {raw[:20]!r}.\n")
    return int(raw)


def _query(request: web.Request) -> str | None:
    raw = request.query.get("q")
    if raw is None:
        return None
    if len(raw) > MAX_QUERY:
        raise web.HTTPBadRequest(
            text=f"q is at most {MAX_QUERY} characters; this one has {len(raw)}. Search for fewer words.\n"
        )
    return raw.strip() or None


_YEAR = re.compile(r"^\d{4}$")


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise web.HTTPBadRequest(text=f"page must be a whole number from 1 to {MAX_PAGE}; got {raw[:20]!r}.\n")
    return int(raw)


def _year(request: web.Request) -> int | None:
    raw = request.query.get("year")
    if not raw:
        return None
    if not _YEAR.match(raw) or not 1000 <= int(raw) <= 2999:
        raise web.HTTPBadRequest(text=f"year must be four digits, such as 2023; got {raw[:20]!r}.\n")
    return int(raw)


def _filters(request: web.Request) -> Filters:
    category = request.query.get("category") or None
    if category is not None and (len(category) > 60 or not CATEGORY_RE.match(category)):
        raise web.HTTPBadRequest(text=f"category must be a category code such as CV; got {category[:20]!r}.\n")
    topic = request.query.get("topic") or None
    if topic is not None and (len(topic) > 120 or not SLUG_RE.match(topic)):
        raise web.HTTPBadRequest(text=f"topic must be a topic slug such as ssl; got {topic[:20]!r}.\n")
    return Filters(year=_year(request), category=category, topic=topic.lower() if topic else None)


async def _bounded(request: web.Request, build: Callable[[], Awaitable[Any]]) -> Any:
    """Run a build within the app's slots and time limit; past the limit the client gets a 503."""
    limits = request.app[LIMITS_KEY]

    async def run() -> Any:
        async with limits["slots"]:
            return await build()

    try:
        return await asyncio.wait_for(run(), limits["time"])
    except TimeoutError:
        log.warning("%s took more than %.1f s; answered 503", request.path[:200], limits["time"])
        raise web.HTTPServiceUnavailable(
            text=f"This page took more than {limits['time']:g} s to build; try again in a moment.\n",
            headers={"Retry-After": "5"},
        ) from None


async def _cached(request: web.Request, key: Any, build: Callable[[], Awaitable[Any]], **kw: Any) -> Any:
    return await request.app[CACHE_KEY].get(key, lambda: _bounded(request, build), **kw)


# -- responses ---------------------------------------------------------------------------


def respond(request: web.Request, document: Document, status: int = 200) -> web.Response:
    """Serve a built document: 304 if the client has it, gzip if the client takes it."""
    headers = {
        "Content-Type": document.content_type,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
    }
    if document.http_last_modified is not None:
        headers["Last-Modified"] = document.http_last_modified
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    headers["ETag"] = document.gzip_etag if gzipped else document.etag
    if status == 200 and not_modified(request.headers, document):
        del headers["Content-Type"]
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return web.Response(status=status, body=document.gzipped, headers=headers)
    return web.Response(status=status, body=document.body, headers=headers)


def _missing(request: web.Request, missing: Missing) -> web.Response:
    response = respond(request, missing.document, status=404)
    # A 404 page may change as soon as the author appears: keep it out of caches.
    response.headers["Cache-Control"] = "no-cache"
    return response


# -- views -------------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    query = _query(request)
    filters = _filters(request)
    page = _page(request)
    pages = request.app[PAGES_KEY]
    if query:
        # Distinct queries are unbounded in number: built per request, never cached.
        document = await _bounded(request, lambda: pages.index(query=query, filters=filters, page=page))
        response = respond(request, document)
        response.headers["Cache-Control"] = "no-cache"
        return response
    key = ("index", filters, page)
    return respond(request, await _cached(request, key, lambda: pages.index(query=None, filters=filters, page=page)))


async def stylesheet(request: web.Request) -> web.Response:
    document = await request.app[CACHE_KEY].get(("css",), _async_value(request.app[PAGES_KEY].stylesheet()))
    return respond(request, document)


def _async_value(value: Any) -> Callable[[], Awaitable[Any]]:
    async def get() -> Any:
        return value

    return get


async def opml(request: web.Request) -> web.Response:
    site = request.app[SITE_KEY]
    return respond(request, await _cached(request, ("opml",), site.opml))


def _page_result(request: web.Request, result: Document | Missing | Moved) -> web.Response:
    if isinstance(result, Moved):
        location = result.slug
        if request.query_string:
            location += "?" + request.query_string
        raise web.HTTPMovedPermanently(location)
    if isinstance(result, Missing):
        return _missing(request, result)
    return respond(request, result)


def _keep(value: Any) -> bool:
    return not isinstance(value, Missing)


async def paper_page(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    pages = request.app[PAGES_KEY]
    return _page_result(request, await _cached(request, ("paper", key), lambda: pages.paper(key), keep=_keep))


async def paper_bib(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    pages = request.app[PAGES_KEY]
    result = await _cached(request, ("bib", key), lambda: pages.paper_bib(key), keep=_keep)
    response = _page_result(request, result)
    if response.status == 200:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", key)[:80] or "paper"
        response.headers["Content-Disposition"] = f'inline; filename="{name}.bib"'
    return response


async def listing_page(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    slug = request.match_info["slug"]
    year = _year(request)
    page = _page(request)
    pages = request.app[PAGES_KEY]
    build = {"authors": pages.author, "topics": pages.topic, "categories": pages.category}[kind]
    result = await _cached(request, (kind, slug, year, page), lambda: build(slug, year=year, page=page), keep=_keep)
    return _page_result(request, result)


async def authors_directory(request: web.Request) -> web.Response:
    page = _page(request)
    pages = request.app[PAGES_KEY]
    return respond(request, await _cached(request, ("authors/", page), lambda: pages.authors(page)))


async def topics_directory(request: web.Request) -> web.Response:
    page = _page(request)
    pages = request.app[PAGES_KEY]
    return respond(request, await _cached(request, ("topics/", page), lambda: pages.topics(page)))


def _main_feed(fmt: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of /feed.{fmt}."""

    async def main_feed(request: web.Request) -> web.Response:
        return await _serve_feed(request, None, None, fmt)

    return main_feed


async def feed(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    assert kind in FEED_KINDS
    return await _serve_feed(request, kind, request.match_info["slug"], request.match_info["fmt"])


async def _serve_feed(request: web.Request, kind: str | None, slug: str | None, fmt: str) -> web.Response:
    assert fmt in FORMATS
    limit = _limit(request)
    site = request.app[SITE_KEY]
    cache: VersionedCache[CachedFeed] = request.app[CACHE_KEY]
    result = await cache.get(
        ("feed", kind, slug, limit),
        lambda: _bounded(request, lambda: site.feed(kind, slug, limit)),
        keep=_keep,
    )
    if isinstance(result, Moved):
        # Relative to the request's folder, so it also works behind a path-prefixing proxy.
        location = feed_path(kind, result.slug, fmt).rsplit("/", 1)[-1]
        if request.query_string:
            location += "?" + request.query_string
        raise web.HTTPMovedPermanently(location)
    if isinstance(result, Missing):
        return _missing(request, result)
    return respond(request, result[fmt])


async def healthz(request: web.Request) -> web.Response:
    report: dict[str, Any] = {"status": "ok"}
    for check in request.app[HEALTH_KEY]:
        try:
            report.update(await check())
        except Exception as exc:  # a failing check is the news /healthz exists to report
            log.warning("health check %r failed: %s", check, exc)
            report.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    status = 200 if report.get("status") == "ok" else 503
    return web.Response(
        status=status,
        text=json.dumps(report, default=str),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@web.middleware
async def _not_found_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown paths get a sentence pointing at the index instead of aiohttp's bare 404."""
    try:
        return await handler(request)
    except web.HTTPNotFound as exc:
        if exc.text and not exc.text.startswith("404: Not Found"):
            raise
        raise web.HTTPNotFound(
            text="Nothing is served at this path. The index at / lists the newest papers; "
            "papers live under /papers/, feeds at /feed.atom, /feed.rss, /feed.json and under "
            "/authors/, /topics/ and /categories/.\n"
        ) from None
