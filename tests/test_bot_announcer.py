"""Announcements through the emulator: exactly once through 429s, 5xx, a dropped gateway and crashes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.announcer import IN_FLIGHT, UNVERIFIED, Announcer
from bot.senders import ChannelSender, webhook_target
from feeds.sources.fetch import Fetcher
from paperboy.config import AnnounceConfig, Config, DiscordConfig
from paperboy.discord_runner import start_bot, start_webhooks, sync_webhooks
from paperboy.jobs import Jobs
from storage.store import Store
from tests.bot_fixtures import TOKEN, running_bot, seeded_store
from tests.discord_emulator import DiscordEmulator
from tests.helpers import needs_seed, record

pytestmark = needs_seed


@pytest.fixture
async def store(tmp_path: Path):
    store = await seeded_store(tmp_path / "announce.db")
    yield store
    await store.close()


def fresh_papers(n: int, tag: str) -> list:
    return [
        record(f"{tag} paper number {i} on robust diffusion", "Sangheum Hwang", f"Coauthor {tag}{i}",
               published=date.today() - timedelta(days=i % 27), abstract=f"We study {tag} problem {i}.")
        for i in range(n)
    ]


def keys_posted(messages: list[dict]) -> Counter:
    """How often each paper key was announced (read from the embed footer)."""
    return Counter(m["embeds"][0]["footer"]["text"].split(" · ")[0].removeprefix("key ") for m in messages)


async def drain_until_empty(announcer: Announcer, store: Store, rounds: int = 30) -> int:
    sent = 0
    for _ in range(rounds):
        sent += await announcer.drain()
        if (await store.outbox.depth())[0] == 0:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not empty after {rounds} drains: {await store.outbox.counts()}")


async def test_every_paper_exactly_once_through_429s_5xx_and_a_dropped_gateway(store: Store) -> None:
    async with running_bot(store) as h:
        h.emu.message_rate = (5, 0.3)  # Discord's per-channel pacing, faster; discord.py must wait on it
        other = h.emu.add_channel(h.guild.id, "hwang-papers")
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id,
                                                     channel_id=h.channel.id)
        _, backfilled = await store.outbox.subscribe(
            target="author", value="sangheum-hwang", guild_id=h.guild.id, channel_id=other.id, backfill=3)
        assert backfilled == 3
        report = await store.ingest(fresh_papers(10, "alpha"), source="later")
        assert report.new == 10 and report.queued_deliveries == 20  # both follow every new paper
        owed = await store.outbox.pending(limit=100)
        assert len(owed) == 23

        pattern = "/channels/{channel_id}/messages"
        faults = [
            h.emu.fail_next("POST", pattern, status=429, count=3, retry_after=0.05),  # discord.py waits, resends
            h.emu.fail_next("POST", pattern, status=429, count=1, via=False),  # no Via: raised; we retry later
            h.emu.fail_next("POST", pattern, status=503, count=2),  # raised; we back off and retry
            h.emu.fail_next("POST", pattern, status=500, count=1),  # discord.py retries after 1 s itself
        ]
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)

        first = asyncio.create_task(announcer.drain())
        await h.emu.wait_messages(h.channel.id, 3, timeout=10)
        await h.emu.drop_gateway()
        await first
        await h.emu.wait_resumed()
        await drain_until_empty(announcer, store)

        assert await store.outbox.counts() == {"sent": 23}
        assert [f.remaining for f in faults] == [0, 0, 0, 0]
        assert h.emu.resume_count >= 1
        general = keys_posted(h.emu.messages(h.channel.id))
        by_author = keys_posted(h.emu.messages(other.id))
        assert len(general) == 10 and set(general.values()) == {1}
        assert len(by_author) == 13 and set(by_author.values()) == {1}
        assert set(general) < set(by_author)
        # Every recorded message id is the one Discord holds, with the delivery's nonce on it.
        for row in owed:
            sent = await store.db.fetchone("SELECT message_id, attempts FROM deliveries WHERE id = ?",
                                           (row.delivery.id,))
            message = h.emu.message(sent[0])
            assert message is not None and message["nonce"] == row.delivery.nonce
        retried = await store.db.fetchone("SELECT count(*) FROM deliveries WHERE attempts > 1")
        assert retried[0] >= 3  # the 429 without Via and the two 503s went through mark_retry
        for message in h.emu.messages(other.id):
            assert message["content"] == "📄 New paper by **Sangheum Hwang**"
            assert h.emu.allowed_mentions(int(message["id"])) == {"parse": []}


async def test_a_resend_after_a_crash_returns_the_first_message(store: Store) -> None:
    async with running_bot(store) as h:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        await store.ingest(fresh_papers(2, "beta"), source="later")
        [row, _] = await store.outbox.pending()
        sender = ChannelSender(h.bot)
        paper = await store.get_paper(row.paper_key)
        assert paper is not None
        from bot.announce_format import announcement

        # The process posted this one and died before recording it.
        first_id = await sender.send(row.subscription, announcement(paper, row.subscription), row.delivery.nonce)
        await Announcer(store, [sender], retry_base=0.0).drain()
        assert h.emu.message_count(h.channel.id) == 2
        assert list(keys_posted(h.emu.messages(h.channel.id)).values()) == [1, 1]
        recorded = await store.db.fetchone("SELECT message_id FROM deliveries WHERE id = ?", (row.delivery.id,))
        assert recorded[0] == first_id


async def test_gone_and_forbidden_channels_pause_and_say_why(store: Store) -> None:
    async with running_bot(store) as h:
        forbidden = h.emu.add_channel(h.guild.id, "locked")
        deleted = h.emu.add_channel(h.guild.id, "deleted")
        subs = {}
        for channel in (h.channel, forbidden, deleted):
            subs[channel.id], _ = await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id,
                                                               channel_id=channel.id)
        h.emu.refuse_channel(forbidden.id, 403)
        h.emu.refuse_channel(deleted.id, 404)
        await store.ingest(fresh_papers(3, "gamma"), source="later")
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)
        assert await announcer.drain() == 3
        assert sorted(announcer.last.paused) == sorted([subs[forbidden.id].id, subs[deleted.id].id])
        forbidden_requests = h.emu.requests_to("POST", f"/channels/{forbidden.id}/messages")
        assert len(forbidden_requests) == 1  # paused at the first refusal, not retried per paper
        listed = await h.slash("subscriptions", user=h.admin)
        text = listed.embeds[0]["description"]
        assert f"paused: the bot may not post in <#{forbidden.id}> (403 Missing Permissions)" in text
        assert f"paused: channel {deleted.id} no longer exists (404 Unknown Channel)" in text
        assert await announcer.drain() == 0  # paused subscriptions wait
        # Permissions fixed: subscribing again resumes and delivers what was owed.
        h.emu.allow_channel(forbidden.id)
        again = await h.slash("subscribe", options={"target": "all", "channel": forbidden.id}, user=h.admin)
        assert again.embeds[0]["title"] == "Subscribed"
        assert await announcer.drain() == 3
        assert len(keys_posted(h.emu.messages(forbidden.id))) == 3


async def test_digest_subscription_gets_one_digest_not_a_post_per_paper(store: Store) -> None:
    async with running_bot(store) as h:
        await store.outbox.subscribe(target="author", value="sangheum-hwang", guild_id=h.guild.id,
                                     channel_id=h.channel.id, digest=7)  # days per digest: weekly
        report = await store.ingest(fresh_papers(4, "delta"), source="later")
        assert report.queued_deliveries == 4  # owed to the digest, which keeps the books
        announcer = Announcer(store, [ChannelSender(h.bot)])
        assert await announcer.drain() == 0  # a digest subscription gets no message per paper
        assert await announcer.post_digests() == 1
        assert await announcer.post_digests() == 0  # not due again within the week
        [message] = h.emu.messages(h.channel.id)
        assert message["content"] == "🗞️ Weekly digest"
        assert message["embeds"][0]["title"].startswith("4 new papers")
        assert "delta paper number 3" in message["embeds"][0]["description"]


async def test_webhook_announcements_without_a_bot(store: Store, tmp_path: Path) -> None:
    async with DiscordEmulator(token=TOKEN) as emu, aiohttp.ClientSession() as session:
        guild = emu.add_guild("Lab")
        channel = emu.add_channel(guild.id, "webhook-news")
        hook = emu.add_webhook(channel.id)
        config = Config(
            discord=DiscordConfig(api_base=emu.api_base, gateway_url=emu.gateway_url),
            announce=(AnnounceConfig(name="lab", webhook_url=hook.url, target="author", value="Sangheum Hwang"),),
        )
        assert webhook_target(hook.url, emu.api_base) == hook.local_url
        jobs = Jobs(config, store, Fetcher(session, user_agent="paperboy-test"))
        said: list[str] = []
        announcer = await start_webhooks(config, store, session, jobs, said.append,
                                         announcer_options={"retry_base": 0.0})
        assert said == ["announcements: 1 webhook from [[announce]]"] and jobs.drain is not None
        [sub] = await store.outbox.subscriptions(webhooks=True)
        assert (sub.target, sub.value, sub.webhook_url) == ("author", "sangheum-hwang", hook.url)
        assert await sync_webhooks(config, store) == 1 and len(await store.outbox.subscriptions()) == 1

        await store.ingest(fresh_papers(6, "eps"), source="later")
        rows = await store.outbox.pending()
        # A crash after "in flight" was recorded and before the answer, with no bot to read the
        # channel: never resent, and recorded as sent (unverified), never as failed.
        crashed = rows[0]
        await store.outbox.mark_retry(crashed.delivery.id, IN_FLIGHT + "2026-01-01T00:00:00+00:00", 0)
        pattern = "/webhooks/{webhook_id}/{webhook_token}"
        emu.fail_next("POST", pattern, status=429, count=2, retry_after=0.05)
        emu.fail_next("POST", pattern, status=500, count=1)
        sent = 0
        for _ in range(10):
            sent += await jobs.drain_outbox()
            if (await store.outbox.depth())[0] == 0:
                break
        assert sent == 6 and await store.outbox.counts() == {"sent": 6}
        unverified = await store.db.fetchone("SELECT last_error FROM deliveries WHERE id = ?", (crashed.delivery.id,))
        assert unverified[0].startswith(UNVERIFIED)
        posted = keys_posted(emu.messages(channel.id))
        assert len(posted) == 5 and set(posted.values()) == {1} and crashed.paper_key not in posted
        executes = [r for r in emu.requests_to("POST", pattern) if r.status == 200]
        assert len(executes) == 5 and all(r.query.get("wait") == "true" for r in executes)
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in executes)

        # A deleted webhook pauses its subscription with the fix in the reason.
        gone = Config(discord=config.discord, announce=(AnnounceConfig(
            name="old", webhook_url=f"{emu.api_base}/webhooks/1/{'t' * 68}"),))
        await sync_webhooks(gone, store)
        [old] = await store.outbox.subscriptions(webhooks=True)
        assert old.webhook_url != hook.url  # the lab hook was removed from the config, so it went
        await store.outbox.subscribe(target="all", value=None, webhook_url=old.webhook_url, backfill=1)
        await announcer.drain()
        [old] = await store.outbox.subscriptions(webhooks=True)
        assert old.paused_reason is not None and "fix webhook_url in [[announce]]" in old.paused_reason


async def test_start_bot_logs_in_wires_the_jobs_and_cleans_up(store: Store) -> None:
    import discord.http

    before = discord.http.Route.BASE
    async with DiscordEmulator(token=TOKEN) as emu, aiohttp.ClientSession() as session:
        guild = emu.add_guild("Lab")
        channel = emu.add_channel(guild.id, "papers")
        await store.outbox.subscribe(target="all", value=None, guild_id=guild.id, channel_id=channel.id)
        config = Config(discord=DiscordConfig(api_base=emu.api_base, gateway_url=emu.gateway_url),
                        discord_token=TOKEN)
        jobs = Jobs(config, store, Fetcher(session, user_agent="paperboy-test"))
        said: list[str] = []
        async with contextlib.AsyncExitStack() as stack:
            bot = await start_bot(config, store, session, jobs, stack, said.append,
                                  bot_options={"guild_ready_timeout": 0.05})
            assert said[0].startswith("Discord: logged in as paperboy-test") and "commands synced (global)" in said[0]
            assert discord.http.Route.BASE == emu.api_base
            await store.ingest(fresh_papers(2, "zeta"), source="later")
            assert await jobs.drain_outbox() == 2 and jobs.digest is not None
            assert emu.message_count(channel.id) == 2
        assert bot.is_closed() and discord.http.Route.BASE == before

        bad = Config(discord=config.discord, discord_token="wrong-token")
        said.clear()
        async with contextlib.AsyncExitStack() as stack:
            await start_bot(bad, store, session, jobs, stack, said.append, ready_timeout=5)
            await asyncio.sleep(0)
        assert said == ["Discord: the token was refused (401); check DISCORD_TOKEN. Discord stays off"]


async def test_a_cancelled_drain_finishes_and_records_the_send_under_way(store: Store) -> None:
    async with running_bot(store) as h:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        await store.ingest(fresh_papers(3, "eta"), source="later")
        # discord.py sleeps 1 s before resending after a 500: cancel the drain during that sleep.
        fault = h.emu.fail_next("POST", "/channels/{channel_id}/messages", status=500, count=1)
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)
        task = asyncio.create_task(announcer.drain())

        async def fault_hit() -> None:
            # The emulator offers no public wait on a fault being used, so poll it.
            while fault.remaining:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        await asyncio.wait_for(fault_hit(), 5)
        task.cancel()
        assert await task == 1  # the message under way was posted and recorded; the rest waits
        assert await store.outbox.counts() == {"sent": 1, "pending": 2}
        [message] = h.emu.messages(h.channel.id)
        sent = await store.db.fetchone("SELECT message_id FROM deliveries WHERE status = 'sent'")
        assert sent[0] == int(message["id"])
        assert await announcer.drain() == 2 and h.emu.message_count(h.channel.id) == 3


async def test_metrics_count_commands_and_delivery_outcomes(store: Store) -> None:
    from paperboy.metrics import Metrics

    metrics = Metrics(store, process=False)
    async with running_bot(store, metrics=metrics) as h:
        await h.slash("paper", "search", options={"query": "diffusion"})
        await h.slash("author", options={"name": "   "})  # refused: an error outcome
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        await store.ingest(fresh_papers(2, "theta"), source="later")
        h.emu.fail_next("POST", "/channels/{channel_id}/messages", status=503, count=1)
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0, on_outcome=metrics.observe_delivery)
        await drain_until_empty(announcer, store)
    sample = metrics.registry.get_sample_value
    assert sample("paperboy_commands_total", {"command": "paper search", "outcome": "ok"}) == 1
    assert sample("paperboy_commands_total", {"command": "author", "outcome": "error"}) == 1
    assert sample("paperboy_delivery_attempts_total", {"outcome": "sent"}) == 2
    assert sample("paperboy_delivery_attempts_total", {"outcome": "retry"}) == 1
