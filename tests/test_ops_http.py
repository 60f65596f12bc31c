"""/healthz and /metrics over real HTTP, with the whole service started in-process by serve()."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paperboy.config import load
from paperboy.service import Running, serve
from storage.store import Store
from tests.helpers import REPO

DEMO = REPO / "examples" / "lab.txt"
WEBHOOK = "https://discord.com/api/webhooks/123/secret-token"


def _config_file(tmp_path: Path, sources: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "ops.db"}"\n[http]\nport = 0\n[schedule]\njitter = 0\n'
        # The demo listing is years old: max_age = 0 announces papers of any age.
        f'[announce]\nmax_age = 0\n{sources}',
        encoding="utf-8",
    )
    return path


def _listing_source(name: str, url: Path, interval: str = "1h") -> str:
    return f'[[sources]]\nname = "{name}"\nkind = "listing"\nurl = "{url}"\ninterval = "{interval}"\n'


@asynccontextmanager
async def running_service(config_path: Path) -> AsyncIterator[Running]:
    config = load(config_path, env={})
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, stop=stop, out=io.StringIO(), started=ready.set_result))
    try:
        yield await asyncio.wait_for(ready, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    try:
        async with asyncio.timeout(seconds):
            # The states waited on live in SQLite and the scheduler, which signal no event: poll.
            while not await predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"condition not met within {seconds} s") from None


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers["Cache-Control"] == "no-store"
        return resp.status, await resp.json()


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    async with http.get(f"{base}metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_healthz_reports_every_part_when_healthy(tmp_path: Path) -> None:
    async with running_service(_config_file(tmp_path, _listing_source("lab", DEMO))) as running:
        await wait_for(lambda: _papers(running.store, 22))
        async with aiohttp.ClientSession() as http:
            status, body = await get_json(http, f"{running.base_url}healthz")
    assert status == 200, body
    assert body["status"] == "ok" and body["reasons"] == []
    assert body["store"] == {"state": "ok", "papers": 22}
    assert body["scheduler"]["state"] == "running" and body["scheduler"]["jobs"] >= 1
    lab = body["sources"]["lab"]
    assert lab["state"] == "ok" and lab["last_error"] is None and lab["last_success_at"]
    assert body["discord"] == {"state": "off"}


async def test_metrics_count_store_polls_outbox_and_feed_requests(tmp_path: Path) -> None:
    db = tmp_path / "ops.db"
    async with await Store.open(db) as store:
        # Subscribed before the first poll, so every new paper queues one announcement (nobody sends them).
        await store.outbox.subscribe(target="all", value=None, webhook_url=WEBHOOK)
    async with running_service(_config_file(tmp_path, _listing_source("lab", DEMO))) as running:
        store = running.store
        await wait_for(lambda: _papers(store, 22))
        stats = await store.stats()
        async with aiohttp.ClientSession() as http:
            base = running.base_url
            assert base is not None
            async with http.get(f"{base}feed.atom") as resp:
                assert resp.status == 200
                etag = resp.headers["ETag"]
            async with http.get(f"{base}feed.atom", headers={"If-None-Match": etag}) as resp:
                assert resp.status == 304
            async with http.get(f"{base}authors/sangheum-hwang.json") as resp:
                assert resp.status == 200
            async with http.get(f"{base}no/such/page") as resp:
                assert resp.status == 404
            await asyncio.sleep(0.01)  # let the outbox's oldest row age measurably
            samples = await scrape(http, base)

    assert value(samples, "paperboy_store_up") == 1
    assert value(samples, "paperboy_papers") == 22 == stats.papers
    assert value(samples, "paperboy_authors") == stats.authors > 0
    assert value(samples, "paperboy_outbox_depth") == 22
    assert value(samples, "paperboy_deliveries", status="pending") == 22
    assert value(samples, "paperboy_deliveries", status="sent") == 0
    assert value(samples, "paperboy_outbox_oldest_pending_age_seconds") > 0
    assert value(samples, "paperboy_ingests_total", source="lab", outcome="changed") == 1
    assert value(samples, "paperboy_source_papers", source="lab") == 22
    assert value(samples, "paperboy_source_failing", source="lab") == 0
    assert value(samples, "paperboy_http_requests_total", route="/feed.{fmt}", status="200") == 1
    assert value(samples, "paperboy_http_requests_total", route="/feed.{fmt}", status="304") == 1
    assert value(samples, "paperboy_http_requests_total", route="/{kind}/{slug}.{fmt}", status="200") == 1
    assert value(samples, "paperboy_http_requests_total", route="unmatched", status="404") == 1
    # Three feed answers, one of them a 304.
    assert value(samples, "paperboy_feed_not_modified_ratio") == pytest.approx(1 / 3)
    # Nothing but the request's route pattern becomes a label: the raw path never does.
    assert not any("no/such" in str(labels) for _, labels in samples)
    assert value(samples, "paperboy_process_resident_memory_bytes") > 0


async def test_metrics_count_commands_reported_by_the_bot(tmp_path: Path) -> None:
    async with running_service(_config_file(tmp_path, "")) as running:
        metrics = running.metrics
        assert metrics is not None
        metrics.observe_command("paper search", 0.12)
        metrics.observe_command("paper search", 0.02)
        with pytest.raises(RuntimeError):
            async with metrics.time_command("author"):
                raise RuntimeError("the answer failed")
        async with aiohttp.ClientSession() as http:
            samples = await scrape(http, running.base_url or "")
    assert value(samples, "paperboy_commands_total", command="paper search", outcome="ok") == 2
    assert value(samples, "paperboy_commands_total", command="author", outcome="error") == 1
    assert value(samples, "paperboy_command_duration_seconds_count", command="paper search") == 2
    assert value(samples, "paperboy_command_duration_seconds_sum", command="paper search") == pytest.approx(0.14)
    assert value(samples, "paperboy_command_duration_seconds_bucket", command="paper search", le="0.05") == 1


async def test_healthz_turns_503_with_the_reason_when_scheduler_or_store_fail(tmp_path: Path) -> None:
    async with running_service(_config_file(tmp_path, _listing_source("lab", DEMO))) as running:
        await wait_for(lambda: _papers(running.store, 22))
        url = f"{running.base_url}healthz"
        async with aiohttp.ClientSession() as http:
            running.scheduler.pause()
            status, body = await get_json(http, url)
            assert status == 503
            assert body["status"] == "unhealthy" and body["scheduler"] == {"state": "paused"}
            assert body["reasons"] == ["scheduler: paused, so no source is polled and nothing is announced"]
            running.scheduler.resume()
            assert (await get_json(http, url))[0] == 200

            await running.store.close()
            status, body = await get_json(http, url)
            assert status == 503
            assert body["store"]["state"] == "error"
            assert any(r.startswith("store: cannot be read") for r in body["reasons"])
            samples = await scrape(http, running.base_url or "")
            assert value(samples, "paperboy_store_up") == 0


async def test_a_failing_source_warns_then_goes_stale_and_unhealthy(tmp_path: Path) -> None:
    missing = tmp_path / "gone.txt"
    config = _config_file(tmp_path, _listing_source("lab", DEMO) + _listing_source("broken", missing, "1s"))
    async with running_service(config) as running:
        url = f"{running.base_url}healthz"
        async with aiohttp.ClientSession() as http:

            async def broken_polled() -> bool:
                source = await running.store.source("broken")
                return bool(source and source.last_error)

            await wait_for(broken_polled)
            status, body = await get_json(http, url)
            # One failure is news, not an outage: the next poll may well succeed.
            assert status == 200, body
            assert body["sources"]["broken"]["state"] == "failing"
            assert "gone.txt" in body["sources"]["broken"]["last_error"]
            assert body["sources"]["lab"]["state"] in ("ok", "pending")

            async def unhealthy() -> bool:
                return (await get_json(http, url))[0] == 503

            # Stale after three intervals (3 s) without a success.
            await wait_for(unhealthy, seconds=8)
            status, body = await get_json(http, url)
            samples = await scrape(http, running.base_url or "")
    assert body["sources"]["broken"]["state"] == "stale"
    (reason,) = body["reasons"]
    assert reason.startswith("source broken: no successful poll for ") and "gone.txt" in reason
    assert body["sources"]["lab"]["state"] == "ok"
    assert value(samples, "paperboy_source_failing", source="broken") == 1
    assert value(samples, "paperboy_source_errors_total", source="broken") >= 2
    assert value(samples, "paperboy_ingests_total", source="broken", outcome="error") >= 2


async def _papers(store: Store, n: int) -> bool:
    # The papers show as soon as the ingest commits; wait for the poll that stored them to finish too.
    sources = await store.sources()
    return await store.count_papers() == n and all(s.last_success_at for s in sources)
