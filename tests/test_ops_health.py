"""Health checks on their own: Discord's connection state from a real discord.py client, and the probe."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from paperboy.config import SourceConfig, load
from paperboy.health import Health, local_url, main
from storage.errors import ConfigError
from storage.store import Store
from tests.discord_emulator import DiscordEmulator

TOKEN = "health-test-token"


class Clock:
    """A clock the test moves, so grace periods are checked without waiting them out."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_discord_state_follows_a_real_client(tmp_path: Path) -> None:
    clock = Clock()
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    client: discord.Client | None = None
    async with await Store.open(tmp_path / "h.db") as store, DiscordEmulator(token=TOKEN) as emu:
        emu.point_discord_py()
        emu.add_guild("Lab")
        client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        health = Health(store, scheduler, bot=lambda: client, discord=True, connect_grace=60, clock=clock)

        report = await health()
        assert report["discord"] == {"state": "connecting"} and report["status"] == "ok"
        clock.now += timedelta(seconds=61)
        report = await health()
        assert report["status"] == "unhealthy" and report["discord"]["state"] == "connecting"
        assert report["reasons"] == ["discord: not connected 61 s after start"]

        task = asyncio.create_task(client.start(TOKEN))
        try:
            await asyncio.wait_for(client.wait_until_ready(), 10)
            report = await health()
            assert report["status"] == "ok", report
            assert report["discord"]["state"] == "connected"
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        report = await health()
        assert report["status"] == "unhealthy" and report["discord"] == {"state": "disconnected"}
        assert report["reasons"] == ["discord: the gateway connection is closed"]
    scheduler.shutdown(wait=False)


async def test_no_bot_configured_is_off_and_healthy(tmp_path: Path) -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        async with await Store.open(tmp_path / "h.db") as store:
            report = await Health(store, scheduler)()
    finally:
        scheduler.shutdown(wait=False)
    assert report["discord"] == {"state": "off"} and report["status"] == "ok"
    assert report["sources"] == {} and report["store"] == {"state": "ok", "papers": 0}


async def test_staleness_counts_from_start_not_from_before_a_restart(tmp_path: Path) -> None:
    # Started a week after the last success: as if the service had been down that long.
    clock = Clock(datetime.now(UTC) + timedelta(days=7))
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    source = SourceConfig(name="lab", kind="listing", url="lab.txt", interval=600.0)
    try:
        async with await Store.open(tmp_path / "h.db") as store:
            await store.register_source("lab", "listing", "lab.txt", None)
            await store.record_poll("lab")  # by the real clock: a week before Clock's start
            health = Health(store, scheduler, [source], jitter=30.0, clock=clock)
            clock.now += timedelta(seconds=3 * 600 + 30)
            assert (await health())["sources"]["lab"]["state"] == "ok"
            clock.now += timedelta(seconds=1)
            report = await health()
    finally:
        scheduler.shutdown(wait=False)
    assert report["sources"]["lab"]["state"] == "stale"
    assert report["reasons"] == ["source lab: no successful poll for 1831 s (polled every 600 s)"]


def _serve_status(status: int) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok" if status == 200 else "unhealthy"}, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
async def test_probe_exit_status_follows_healthz(
    tmp_path: Path, status: int, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = web.AppRunner(_serve_status(status))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = tmp_path / "c.toml"
    # A wildcard listen address is probed on loopback, as inside a container.
    config.write_text(f'[http]\nhost = "0.0.0.0"\nport = {port}\n', encoding="utf-8")
    try:
        result = await asyncio.to_thread(main, [], {"PAPERBOY_CONFIG": str(config)})
    finally:
        await runner.cleanup()
    assert result == code
    out, err = capsys.readouterr()
    assert ('"status": "ok"' in out) if code == 0 else ("503" in err and "unhealthy" in err)


def test_probe_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["http://127.0.0.1:9/healthz"], {}) == 1
    assert "cannot reach http://127.0.0.1:9/healthz" in capsys.readouterr().err


def test_probe_needs_a_fixed_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[http]\nport = 0\n", encoding="utf-8")
    assert main([], {"PAPERBOY_CONFIG": str(config)}) == 2
    assert "[http] port = 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="enabled = false"):
        local_url(load(None, env={"PAPERBOY_HTTP_ENABLED": "false"}))
    assert local_url(load(None, env={"PAPERBOY_HTTP_HOST": "::", "PAPERBOY_HTTP_PORT": "81"})) == (
        "http://[::1]:81/healthz"
    )
