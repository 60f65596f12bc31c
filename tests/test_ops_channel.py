"""The ops channel through a running service: failures, sharp drops, recoveries and broken subscriptions, once each."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import aiohttp
import pytest

from feeds.sources.listing import render_listing
from paperboy.config import load
from paperboy.service import Running, serve
from tests.discord_emulator import DiscordEmulator
from tests.helpers import record

TOKEN = "ops-test-token"


def listing(path: Path, n: int) -> None:
    papers = [record(f"Ops paper number {i} about sparse attention", "Ada Lovelace", published=date(2026, 11, 1 + i),
                     abstract=f"Paper {i}.") for i in range(n)]
    path.write_text(render_listing(papers), encoding="utf-8")


@asynccontextmanager
async def service(tmp_path: Path, body: str, env: dict[str, str]) -> AsyncIterator[Running]:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "ops.db"}"\n[http]\nport = 0\n[schedule]\njitter = 0\n{body}',
                    encoding="utf-8")
    stop = asyncio.Event()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(load(path, env=env), stop=stop, out=io.StringIO(), started=ready.set_result))
    try:
        running = await asyncio.wait_for(ready, 15)
        for _ in range(200):  # the first poll, which the scheduler starts at once
            if (await running.store.source("lab")).last_polled_at is not None:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        yield running
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def healthz(running: Running) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{running.base_url}healthz") as resp:
        return await resp.json()


async def test_ops_channel_posts_each_change_once_and_healthz_and_stats_agree(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "lab.txt"
    listing(source, 10)
    async with DiscordEmulator(token=TOKEN, message_rate=(50, 1.0)) as emu:
        guild = emu.add_guild("Lab")
        ops, papers = emu.add_channel(guild.id, "ops"), emu.add_channel(guild.id, "papers")
        body = (f'[discord]\napi_base = "{emu.api_base}"\ngateway_url = "{emu.gateway_url}"\nguild_ids = [{guild.id}]\n'
                f'[ops]\nchannel = {ops.id}\n'
                f'[[sources]]\nname = "lab"\nkind = "listing"\nurl = "{source}"\ninterval = "1h"\n')
        async with service(tmp_path, body, {"DISCORD_TOKEN": TOKEN}) as running:
            jobs, store = running.jobs, running.store
            assert await store.count_papers() == 10 and emu.messages(ops.id) == []

            source.unlink()  # the source fails ...
            for _ in range(2):
                await jobs.poll_source("lab")
            assert emu.messages(ops.id) == []  # ... twice: not yet worth a post
            await jobs.poll_source("lab")
            await jobs.poll_source("lab")
            [failing] = emu.messages(ops.id)
            assert failing["content"].startswith("⚠️ Source **lab** failed 3 polls in a row: ")
            assert "lab.txt" in failing["content"]
            report = await healthz(running)
            assert report["sources"]["lab"]["state"] == "failing"
            assert report["sources"]["lab"]["consecutive_failures"] == 4
            assert any("failed 4 polls in a row" in w for w in report["warnings"])

            listing(source, 10)  # the same file again: unchanged since the last good poll
            await jobs.poll_source("lab")
            assert emu.messages(ops.id)[-1]["content"] == (
                "✅ Source **lab** recovered: answering again, unchanged since the last good poll (10 papers)")

            listing(source, 3)  # a sharp drop: 3 of the last good poll's 10
            with caplog.at_level(logging.WARNING, logger="paperboy.ops"):
                await jobs.poll_source("lab")
            drop = emu.messages(ops.id)[-1]["content"]
            assert drop.startswith("📉 Source **lab**: sharp drop, the last poll returned 3 papers, under 50%")
            assert any(r.levelno == logging.WARNING and "sharp drop" in r.getMessage() for r in caplog.records)
            assert await store.count_papers() == 10  # nothing removed
            report = await healthz(running)
            assert report["sources"]["lab"]["state"] == "dropped" and report["status"] == "ok"
            stats = await emu.slash("stats", channel_id=papers.id)
            sources = next(f["value"] for f in stats.embeds[0]["fields"] if f["name"] == "Sources")
            assert "📉 sharp drop: 3 papers" in sources
            await jobs.poll_source("lab")  # still dropped: no second post
            assert len(emu.messages(ops.id)) == 3

            # A subscription whose channel the bot may no longer post in breaks, and is reported once.
            await store.outbox.subscribe(target="all", value=None, guild_id=guild.id, channel_id=papers.id)
            emu.refuse_channel(papers.id, 403)
            recent = record("A paper for a forbidden channel", "Ada Lovelace", published=date.today())
            await store.ingest([recent], source="cli")
            await jobs.drain_outbox()
            await jobs.drain_outbox()
            broken = emu.messages(ops.id)[3:]
            assert len(broken) == 1 and broken[0]["content"].startswith("🔌 Subscription #1 broke: all in ")
            assert "may not post" in broken[0]["content"]
            report = await healthz(running)
            assert "1" in report["subscriptions"]["broken"]
            emu.allow_channel(papers.id)
            stats = await emu.slash("stats", channel_id=papers.id)
            assert any(f["name"] == "🔌 Broken subscriptions" for f in stats.embeds[0]["fields"])
            assert len(emu.messages(ops.id)) == 4
        # Nothing is posted again after a restart: the states and what was posted are in the store.
        async with service(tmp_path, body, {"DISCORD_TOKEN": TOKEN}) as running:
            await running.jobs.drain_outbox()
            assert len(emu.messages(ops.id)) == 4


async def test_ops_webhook_env_failures_and_drop_ratio_take_effect(tmp_path: Path) -> None:
    source = tmp_path / "lab.txt"
    listing(source, 10)
    async with DiscordEmulator(token=TOKEN) as emu:
        channel = emu.add_channel(emu.add_guild("Lab").id, "ops")
        hook = emu.add_webhook(channel.id)
        body = (f'[discord]\napi_base = "{emu.api_base}"\n'
                '[ops]\nwebhook_env = "OPS_HOOK"\nfailures = 1\ndrop_ratio = 0.9\n'
                f'[[sources]]\nname = "lab"\nkind = "listing"\nurl = "{source}"\ninterval = "1h"\n')
        async with service(tmp_path, body, {"OPS_HOOK": hook.url}) as running:
            listing(source, 8)  # 8 of 10 is under 0.9
            await running.jobs.poll_source("lab")
            source.unlink()
            await running.jobs.poll_source("lab")  # one failure is enough with failures = 1
            messages = emu.messages(channel.id)
            assert messages[0]["content"].startswith("📉 Source **lab**: sharp drop")
            assert messages[1]["content"].startswith("⚠️ Source **lab** failed") and len(messages) == 2
            assert "8 papers, under 90%" in messages[0]["content"]
            assert "failed 1 poll in a row" in messages[1]["content"]
            assert all(m["webhook_id"] == str(hook.id) for m in messages)
