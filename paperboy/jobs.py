"""Scheduled work: poll sources, rebuild feeds after a change, drain the outbox, post digests."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feeds.sources.fetch import Fetcher
from feeds.sources.poll import SourceSpec, poll
from paperboy.config import Config, SourceConfig
from paperboy.ops import OpsMonitor
from storage.errors import PaperboyError, SourceFormatError
from storage.ingest_worker import WorkerIngest
from storage.models import IngestReport
from storage.store import Store

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]


def spec_of(source: SourceConfig) -> SourceSpec:
    return SourceSpec(
        name=source.name,
        kind=source.kind,
        url=source.url or None,
        search_query=source.search_query or None,
        interval=source.interval,
        owner=source.owner or None,
        max_results=source.max_results,
        max_pages=source.max_pages,
    )


@dataclass(slots=True)
class PollStats:
    """Counters the metrics endpoint reads."""

    ingests: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, outcome) -> n
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, source: str, outcome: str) -> None:
        self.ingests[(source, outcome)] = self.ingests.get((source, outcome), 0) + 1


class Jobs:
    """The scheduler's jobs, each a method that logs its failure and never raises."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        *,
        on_change: list[Hook] | None = None,
        drain: Callable[[], Awaitable[int]] | None = None,
        digest: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.on_change = on_change or []
        self.drain = drain
        self.digest = digest
        self.stats = PollStats()
        self.last_run: dict[str, datetime] = {}
        self.ops = OpsMonitor(store, config.ops)
        # Polls store in a worker process: the service keeps none of an ingest's memory.
        self.ingester = WorkerIngest(store)

    async def _ops(self, call: Awaitable[object]) -> None:
        try:
            await call
        except Exception:
            log.exception("recording the source's health for the ops channel failed")

    async def register_sources(self) -> None:
        for source in self.config.sources:
            await self.store.register_source(source.name, source.kind, source.url or None, source.owner or None)

    async def poll_source(self, name: str) -> IngestReport | None:
        """Poll one source now; errors are stored on the source, never raised."""
        source = next((s for s in self.config.sources if s.name == name), None)
        if source is None:
            raise PaperboyError(
                f"no source named {name!r}; configured: {', '.join(s.name for s in self.config.sources) or 'none'}"
            )
        self.last_run[f"poll:{name}"] = datetime.now(UTC)
        stored = await self.store.poll_validators(name)
        try:
            outcome = await poll(
                spec_of(source),
                self.fetcher,
                etag=stored.etag if stored else None,
                last_modified=stored.last_modified if stored else None,
                previous_hash=stored.content_hash if stored else None,
                parse=False,  # the worker that stores the document parses it (storage/ingest_worker.py)
            )
        except Exception as exc:
            await self._failed(name, str(exc) or exc.__class__.__name__)
            return None
        if outcome.not_modified:
            self.stats.count(name, "unchanged")
            await self.store.record_poll(
                name, etag=outcome.etag, last_modified=outcome.last_modified, content_hash=outcome.content_hash
            )
            await self._ops(self.ops.poll_ok(name, None))
            return IngestReport()
        where = {"source": name, "kind": source.kind, "location": source.url or None, "owner": source.owner or None}
        try:
            if outcome.document is not None:
                run = await self.ingester.ingest_parsed(outcome.document, **where)
            else:
                assert outcome.result is not None  # arXiv's pages, parsed as they were fetched
                run = await self.ingester.ingest(outcome.result.records, **where)
        except SourceFormatError as exc:
            await self._failed(name, str(exc))
            return None
        except PaperboyError as exc:
            await self._failed(name, f"storing what it sent failed: {exc}")
            return None
        report = run.report
        problems = [*run.problems, *(outcome.result.problems if outcome.result else ())]
        for problem in problems + report.skipped:
            log.warning("source %s skipped %s", name, problem)
        await self.store.record_poll(
            name, etag=outcome.etag, last_modified=outcome.last_modified, content_hash=outcome.content_hash
        )
        self.stats.count(name, "changed" if report.changed else "unchanged")
        await self._ops(self.ops.poll_ok(name, run.records))
        steps = report.describe_steps()
        log.info(
            "source %s: %d new, %d updated, %d unchanged, %d skipped (%s in %.1f s, peak %d MB%s)%s",
            name, report.new, report.updated, report.unchanged, len(report.skipped) + len(problems),
            "read and stored by a worker process" if run.in_worker else "stored in this process", run.seconds,
            run.peak_rss // 2**20,
            f"; its topic helper's peak {run.helper_peak_rss // 2**20} MB" if run.helper_peak_rss else "",
            f"; the store's steps: {steps}" if steps else "",
        )
        if report.changed:
            await self.changed()
        return report

    async def _failed(self, name: str, message: str) -> None:
        log.warning("source %s failed: %s", name, message)
        self.stats.count(name, "error")
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
        await self.store.record_poll(name, error=message)
        await self._ops(self.ops.poll_failed(name, message))

    async def changed(self) -> None:
        """After an ingest changed something: rebuild feeds, announce soon."""
        for hook in self.on_change:
            try:
                result = hook()
                if result is not None:
                    await result
            except Exception:
                log.exception("after-ingest hook failed")

    async def drain_outbox(self) -> int:
        if self.drain is None:
            return 0
        self.last_run["outbox"] = datetime.now(UTC)
        await self._ops(self.ops.flush())  # changes the ops channel could not take yet
        try:
            return await self.drain()
        except Exception:
            log.exception("draining the outbox failed; it will be retried")
            return 0

    async def post_digest(self) -> int:
        if self.digest is None:
            return 0
        self.last_run["digest"] = datetime.now(UTC)
        try:
            return await self.digest()
        except Exception:
            log.exception("posting digests failed; their papers stay owed to the next run")
            return 0

    def schedule(self, scheduler: AsyncIOScheduler, *, first_poll_now: bool = True) -> None:
        """Add every job. Polls start at once, then repeat on their own interval with jitter."""
        sched = self.config.schedule
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": int(sched.misfire_grace)}
        now = datetime.now(UTC)
        for source in self.config.sources:
            scheduler.add_job(
                self.poll_source,
                IntervalTrigger(seconds=source.interval, jitter=sched.jitter or None, timezone=UTC),
                args=[source.name],
                id=f"poll:{source.name}",
                name=f"poll {source.name}",
                next_run_time=now if first_poll_now else None,
                **common,
            )
        if self.drain is not None:
            scheduler.add_job(
                self.drain_outbox,
                IntervalTrigger(seconds=sched.outbox_interval, timezone=UTC),
                id="outbox",
                name="drain outbox",
                **common,
            )
        if self.digest is not None:
            scheduler.add_job(
                self.post_digest,
                CronTrigger.from_crontab(sched.digest_cron, timezone=sched.timezone),
                id="digest",
                name="digests",
                **common,
            )
