"""Prometheus metrics for /metrics: counters the service feeds, and gauges read from the store at scrape time."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector

from feeds.web import FORMATS

if TYPE_CHECKING:
    from paperboy.jobs import Jobs
    from storage.store import Store

log = logging.getLogger(__name__)

# Slash commands answer within Discord's 3-second window; buckets are spread around it.
COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
# Routes whose answers carry validators, so their 304 share says how well readers cache.
FEED_ROUTES = ("/feed.{fmt}", "/{kind}/{slug}.{fmt}")
_MAIN_FEED_PATHS = frozenset(f"/feed.{fmt}" for fmt in FORMATS)  # feeds/web.py: one plain route each
UNMATCHED = "unmatched"


@dataclass(slots=True)
class StoreSnapshot:
    """What the store said at the start of a scrape."""

    papers: int = 0
    authors: int = 0
    topics: int = 0
    outbox_depth: int = 0
    oldest_pending_age: float = 0.0
    deliveries: dict[str, int] = field(default_factory=dict)
    # name -> (papers, last success as a Unix time or None, failing now)
    sources: dict[str, tuple[int, float | None, bool]] = field(default_factory=dict)
    ok: bool = False


class Metrics:
    """paperboy's metrics, in a registry of their own (never the process-wide default).

    The service calls ``feed_request`` (through ``install``) and the bot calls
    ``observe_command``; the store and the scheduler's poll counters are read
    when /metrics is scraped, so several processes sharing one database agree
    on the stored figures.
    """

    def __init__(
        self,
        store: Store | None = None,
        jobs: Jobs | None = None,
        *,
        process: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.clock = clock
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "paperboy_commands",
            "Slash commands answered, by command and outcome (ok, error).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "paperboy_command_duration_seconds",
            "Time from a slash command's arrival to its answer, by command.",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "paperboy_http_requests",
            "HTTP requests served, by route pattern and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.delivery_attempts = Counter(
            "paperboy_delivery_attempts",
            "Announcement send attempts by this process, by outcome (sent, retry, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self._feed_total = 0
        self._feed_not_modified = 0
        self._snapshot = StoreSnapshot()
        self.registry.register(_ScrapeCollector(self))
        if process:
            ProcessCollector(namespace="paperboy", registry=self.registry)

    # -- what other parts call --------------------------------------------------------------

    def observe_command(self, name: str, seconds: float, outcome: str = "ok") -> None:
        """One answered slash command: its name (e.g. "paper search"), duration and outcome."""
        self.commands.labels(command=name, outcome=outcome).inc()
        self.command_seconds.labels(command=name).observe(max(0.0, seconds))

    @asynccontextmanager
    async def time_command(self, name: str) -> AsyncIterator[None]:
        """``async with metrics.time_command("author"):`` records duration and ok/error."""
        start = time.perf_counter()
        outcome = "error"
        try:
            yield
            outcome = "ok"
        finally:
            self.observe_command(name, time.perf_counter() - start, outcome)

    def observe_delivery(self, outcome: str) -> None:
        """One announcement attempt: "sent", "retry" or "failed"."""
        self.delivery_attempts.labels(outcome=outcome).inc()

    def feed_request(self, route: str, status: int) -> None:
        """One HTTP answer; ``route`` is the route pattern, never the raw path (bounded labels)."""
        self.http_requests.labels(route=route, status=str(status)).inc()
        if route in FEED_ROUTES:
            self._feed_total += 1
            if status == 304:
                self._feed_not_modified += 1

    # -- scraping ---------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the store's figures; on failure keep serving the counters and say the store is down."""
        if self.store is None:
            return
        try:
            self._snapshot = await self._read_store()
        except Exception as exc:
            log.warning("metrics could not read the store: %s", exc)
            self._snapshot = StoreSnapshot(ok=False)

    async def _read_store(self) -> StoreSnapshot:
        assert self.store is not None
        stats = await self.store.stats()
        depth, oldest = await self.store.outbox.depth()
        age = max(0.0, (self.clock() - oldest).total_seconds()) if oldest is not None else 0.0
        return StoreSnapshot(
            papers=stats.papers,
            authors=stats.authors,
            topics=stats.topics,
            outbox_depth=depth,
            oldest_pending_age=age,
            deliveries=await self.store.outbox.counts(),
            sources={
                s.name: (
                    s.papers,
                    s.last_success_at.timestamp() if s.last_success_at else None,
                    bool(s.last_error),
                )
                for s in stats.sources
            },
            ok=True,
        )

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    def handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def metrics_view(request: web.Request) -> web.Response:
            body = await self.render()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

        return metrics_view

    def route(self, path: str = "/metrics") -> web.RouteDef:
        return web.get(path, self.handler())

    def install(self, app: web.Application) -> None:
        """Count every answer ``app`` sends (before it starts): 304s, 404s and errors included."""

        async def count(request: web.Request, response: web.StreamResponse) -> None:
            self.feed_request(route_of(request), response.status)

        app.on_response_prepare.append(count)

    # -- the figures the collector reports --------------------------------------------------

    def scrape_metrics(self) -> Iterator[Metric]:
        snap = self._snapshot
        if self.store is not None:
            yield _gauge("paperboy_store_up", "1 when the last scrape could read the store.", 1 if snap.ok else 0)
            yield _gauge("paperboy_papers", "Papers in the store.", snap.papers)
            yield _gauge("paperboy_authors", "Authors in the store.", snap.authors)
            yield _gauge("paperboy_topics", "Learnt topics (acronyms and phrases) in the store.", snap.topics)
            yield _gauge("paperboy_outbox_depth", "Announcements waiting to be sent.", snap.outbox_depth)
            yield _gauge(
                "paperboy_outbox_oldest_pending_age_seconds",
                "How long the oldest waiting announcement has waited (0 when none waits).",
                snap.oldest_pending_age,
            )
            deliveries = GaugeMetricFamily(
                "paperboy_deliveries", "Outbox rows by status (pending, sent, failed).", labels=["status"]
            )
            for status in sorted({"pending", "sent", "failed", *snap.deliveries}):
                deliveries.add_metric([status], snap.deliveries.get(status, 0))
            yield deliveries
            papers = GaugeMetricFamily("paperboy_source_papers", "Papers each source has reported.", labels=["source"])
            success = GaugeMetricFamily(
                "paperboy_source_last_success_timestamp_seconds",
                "When each source last polled without error (Unix time).",
                labels=["source"],
            )
            failing = GaugeMetricFamily(
                "paperboy_source_failing", "1 when a source's last poll failed.", labels=["source"]
            )
            for name, (count, last_ok, is_failing) in sorted(snap.sources.items()):
                papers.add_metric([name], count)
                if last_ok is not None:
                    success.add_metric([name], last_ok)
                failing.add_metric([name], 1 if is_failing else 0)
            yield from (papers, success, failing)
        if self.jobs is not None:
            ingests = CounterMetricFamily(
                "paperboy_ingests",
                "Source polls by this process, by source and outcome (changed, unchanged, error).",
                labels=["source", "outcome"],
            )
            for (source, outcome), n in sorted(self.jobs.stats.ingests.items()):
                ingests.add_metric([source, outcome], n)
            yield ingests
            errors = CounterMetricFamily(
                "paperboy_source_errors", "Failed polls by this process, by source.", labels=["source"]
            )
            for source, n in sorted(self.jobs.stats.errors.items()):
                errors.add_metric([source], n)
            yield errors
        yield _gauge(
            "paperboy_feed_not_modified_ratio",
            "Share of feed requests answered 304 Not Modified since start (0 before any).",
            self._feed_not_modified / self._feed_total if self._feed_total else 0.0,
        )


def route_of(request: web.Request) -> str:
    """The matched route's pattern, e.g. "/{kind}/{slug}.{fmt}"; unknown paths share one label."""
    resource = request.match_info.route.resource if request.match_info is not None else None
    if resource is None:
        return UNMATCHED
    # Placeholders without their regexes: "/{kind}/{slug}.{fmt}". The main feed is three plain
    # routes (found without a regex) that keep the one label they had as a pattern.
    canonical = resource.canonical
    return "/feed.{fmt}" if canonical in _MAIN_FEED_PATHS else canonical


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _ScrapeCollector:
    """Hands the registry the figures computed at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self.metrics.scrape_metrics())

    def describe(self) -> Iterable[Metric]:
        # Names only, so the registry can refuse a clash without reading the store.
        return []
