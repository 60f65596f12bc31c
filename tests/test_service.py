"""The service as a whole: `paperboy run` in a real process, and the scheduler's jobs on short clocks."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import feedparser
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from feeds.sources.fetch import Fetcher
from feeds.sources.listing import render_listing
from paperboy.config import load
from paperboy.jobs import Jobs
from paperboy.service import Running, serve
from storage.models import INGEST_STEPS
from storage.store import Store
from tests.helpers import REPO, record

DEMO = REPO / "examples" / "lab.txt"


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "svc.db"}"\n[http]\nport = 0\n{extra}', encoding="utf-8")
    return path


async def _wait_for(predicate, limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_run_process_prints_surfaces_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "PAPERBOY_DB", "PAPERBOY_CONFIG")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperboy.cli", "--db", str(tmp_path / "r.db"), "run"],
        cwd=tmp_path, env={**env, "PAPERBOY_HTTP_PORT": "0"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "running; press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "paperboy: database" in text and str(tmp_path / "r.db") in text
        assert "paperboy: feeds at http://127.0.0.1:" in text
        assert "Discord is off: set DISCORD_TOKEN" in text
        assert "sources: demo (listing" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, rest
    assert "stopping" in rest


async def test_serve_polls_rebuilds_feeds_after_ingest(tmp_path: Path) -> None:
    listing = tmp_path / "lab.txt"
    listing.write_bytes(DEMO.read_bytes())
    config = load(_config(tmp_path, f'[[sources]]\nname = "lab"\nkind = "listing"\nurl = "{listing}"\n'
                                    'interval = "0.3s"\n[schedule]\njitter = 0\n'), env={})
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, stop=stop, out=io.StringIO(), started=ready.set_result))
    try:
        running = await asyncio.wait_for(ready, 10)
        store = running.store
        await _wait_for(lambda: _count(store, 22))
        async with aiohttp.ClientSession() as http:
            feed_url = f"{running.base_url}feed.atom"
            async with http.get(feed_url) as resp:
                first = feedparser.parse(await resp.read())
            assert len(first.entries) == 22
            new = record("A Freshly Posted Paper", "Ada Lovelace", abstract="Something new.")
            listing.write_text(render_listing([new]) + DEMO.read_text(encoding="utf-8"), encoding="utf-8")
            await _wait_for(lambda: _count(store, 23))
            titles: list[str] = []

            async def rebuilt() -> bool:
                async with http.get(feed_url) as resp:
                    titles[:] = [e.title for e in feedparser.parse(await resp.read()).entries]
                return len(titles) == 23

            # Rebuilt on the ingest's invalidation (or at worst the next version check).
            await _wait_for(rebuilt, limit=3)
            assert titles[0] == "A Freshly Posted Paper"
        sources = await store.sources()
        assert sources[0].name == "lab" and sources[0].last_error is None and sources[0].last_success_at
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _count(store: Store, n: int) -> bool:
    return await store.count_papers() == n


async def test_failing_source_is_recorded_and_others_continue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paperboy.jobs")
    listing = tmp_path / "lab.txt"
    listing.write_bytes(DEMO.read_bytes())
    prose = tmp_path / "minutes.txt"
    prose.write_text("Minutes of the lab meeting\nWe agreed to meet on Thursdays.\n")
    config = load(_config(tmp_path, f'[[sources]]\nname = "broken"\nkind = "listing"\n'
                                    f'url = "{tmp_path / "missing.txt"}"\n'
                                    f'[[sources]]\nname = "prose"\nkind = "listing"\nurl = "{prose}"\n'
                                    f'[[sources]]\nname = "lab"\nkind = "listing"\nurl = "{listing}"\n'), env={})
    store = await Store.open(tmp_path / "j.db")
    try:
        async with aiohttp.ClientSession() as session:
            jobs = Jobs(config, store, Fetcher(session))
            await jobs.register_sources()
            assert await jobs.poll_source("broken") is None
            # Read by the worker that would store it, a document not of its kind fails as the poll would have.
            assert await jobs.poll_source("prose") is None
            report = await jobs.poll_source("lab")
            assert report is not None and report.new == 22
            # The poll's line says where the store's time went, step by step, from the worker's report.
            line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("source lab: 22 new"))
            steps = line.split("; the store's steps: ")[1].split(", ")
            labels = [step.rsplit(" ", 2)[0] for step in steps]
            assert labels and set(labels) <= set(INGEST_STEPS.values()), line
            assert labels == [label for label in INGEST_STEPS.values() if label in labels]  # in the order taken
            assert sum(float(step.rsplit(" ", 2)[1]) for step in steps) <= sum(report.seconds.values()) + 0.01
            again = await jobs.poll_source("lab")
            assert again is not None and again.new == 0
        broken = await store.source("broken")
        assert broken is not None and broken.last_error and "missing.txt" in broken.last_error
        assert jobs.stats.ingests[("broken", "error")] == 1
        wrong = await store.source("prose")
        assert wrong is not None and wrong.last_error is not None
        assert wrong.last_error.startswith(f"{prose} is not a paper listing: it looks like plain prose")
        assert jobs.stats.ingests[("prose", "error")] == 1
    finally:
        await store.close()


async def test_outbox_job_drains_on_its_interval_and_survives_errors(tmp_path: Path) -> None:
    config = load(_config(tmp_path, '[schedule]\noutbox_interval = "0.1s"\n'), env={})
    calls: list[float] = []

    async def drain() -> int:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise RuntimeError("Discord hiccup")
        return 1

    store = await Store.open(tmp_path / "o.db")
    scheduler = AsyncIOScheduler(timezone="UTC")
    try:
        async with aiohttp.ClientSession() as session:
            jobs = Jobs(config, store, Fetcher(session), drain=drain)
            jobs.schedule(scheduler)
            scheduler.start()
            await _wait_for(lambda: _at_least(calls, 3), limit=5)
    finally:
        scheduler.shutdown(wait=False)
        await store.close()
    assert len(calls) >= 3  # the failure in the first run did not stop the job


async def _at_least(items: list, n: int) -> bool:
    return len(items) >= n


async def test_digest_is_scheduled_by_cron(tmp_path: Path) -> None:
    config = load(_config(tmp_path, '[schedule]\ndigest_cron = "0 9 * * mon"\n'), env={})
    posted: list[int] = []

    async def digest() -> int:
        posted.append(1)
        return 1

    store = await Store.open(tmp_path / "d.db")
    scheduler = AsyncIOScheduler(timezone="UTC")
    try:
        async with aiohttp.ClientSession() as session:
            jobs = Jobs(config, store, Fetcher(session), digest=digest)
            jobs.schedule(scheduler)
            job = scheduler.get_job("digest")
            # A Wednesday afternoon: the next digest is Monday 09:00 UTC.
            nxt = job.trigger.get_next_fire_time(None, datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
            assert nxt == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
            assert job.coalesce and job.max_instances == 1
            assert await jobs.post_digest() == 1 and posted == [1]
    finally:
        await store.close()


@pytest.mark.parametrize("interval", ["0.3s"])
async def test_poll_jobs_have_jitter_and_grace(tmp_path: Path, interval: str) -> None:
    config = load(_config(tmp_path, f'[[sources]]\nname = "x"\nkind = "listing"\nurl = "{DEMO}"\n'
                                    f'interval = "{interval}"\n[schedule]\njitter = "2s"\nmisfire_grace = "1m"\n'),
                  env={})
    store = await Store.open(tmp_path / "g.db")
    scheduler = AsyncIOScheduler(timezone="UTC")
    try:
        async with aiohttp.ClientSession() as session:
            Jobs(config, store, Fetcher(session)).schedule(scheduler)
            job = scheduler.get_job("poll:x")
            assert job.trigger.jitter == 2 and job.misfire_grace_time == 60 and job.coalesce
    finally:
        await store.close()
