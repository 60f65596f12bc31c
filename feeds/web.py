"""The HTTP face of the feeds: an aiohttp app serving Atom/RSS/JSON feeds, the index and OPML."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from feeds._web_cache import VersionedCache, http_date, not_modified, wants_gzip
from feeds._web_site import (
    FEED_KINDS,
    FORMATS,
    MAX_LIMIT,
    MAX_QUERY,
    Document,
    FeedStore,
    Missing,
    Moved,
    Site,
    feed_path,
)
from feeds.publish import FeedSettings

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[Mapping[str, Any]]]
CachedFeed = dict[str, Document] | Missing | Moved

SITE_KEY = web.AppKey("paperboy_site", Site)
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
) -> web.Application:
    """The feed server.

    ``store`` is an open storage.store.Store (the caller owns and closes it);
    ``extra_routes`` are added as they are (e.g. ``/metrics``); ``health`` is an
    async callable whose mapping is merged into ``/healthz``'s JSON (a "status"
    other than "ok" turns the answer into a 503). Call ``invalidate(app)`` after
    an ingest so the next request rebuilds without waiting for the version check.
    """
    app = web.Application(middlewares=[_not_found_middleware])
    app[SITE_KEY] = Site(store, settings)
    app[CACHE_KEY] = VersionedCache(store.data_version, check_interval=check_interval)
    app[HEALTH_KEY] = [health] if health is not None else []
    app.add_routes(
        [
            web.get("/", index),
            web.get("/feeds.opml", opml),
            web.get("/healthz", healthz),
            web.get(r"/feed.{fmt:atom|rss|json}", main_feed),
            web.get(r"/{kind:authors|topics|categories}/{slug:[^/]+}.{fmt:atom|rss|json}", feed),
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


# -- responses ---------------------------------------------------------------------------


def respond(request: web.Request, document: Document, status: int = 200) -> web.Response:
    """Serve a built document: 304 if the client has it, gzip if the client takes it."""
    headers = {
        "Content-Type": document.content_type,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
    }
    if document.last_modified is not None:
        headers["Last-Modified"] = http_date(document.last_modified)
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
    limit = _limit(request)
    site = request.app[SITE_KEY]
    document = await request.app[CACHE_KEY].get(("index", query, limit), lambda: site.index(query, limit))
    return respond(request, document)


async def opml(request: web.Request) -> web.Response:
    site = request.app[SITE_KEY]
    return respond(request, await request.app[CACHE_KEY].get(("opml",), site.opml))


async def main_feed(request: web.Request) -> web.Response:
    return await _serve_feed(request, None, None)


async def feed(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    assert kind in FEED_KINDS
    return await _serve_feed(request, kind, request.match_info["slug"])


async def _serve_feed(request: web.Request, kind: str | None, slug: str | None) -> web.Response:
    fmt = request.match_info["fmt"]
    assert fmt in FORMATS
    limit = _limit(request)
    site = request.app[SITE_KEY]
    cache: VersionedCache[CachedFeed] = request.app[CACHE_KEY]
    result = await cache.get(
        ("feed", kind, slug, limit),
        lambda: site.feed(kind, slug, limit),
        keep=lambda value: not isinstance(value, Missing),
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
            text="Nothing is served at this path. The index at / lists every feed; "
            "feeds live at /feed.atom, /feed.rss, /feed.json and under /authors/, /topics/ "
            "and /categories/.\n"
        ) from None
