"""Digests that keep books: each holds exactly the papers since the last, across restarts and crashes."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.announcer import IN_FLIGHT, Announcer
from bot.digests import PER_DIGEST, digest_payload, is_due
from bot.senders import ChannelSender
from feeds.sources.fetch import Fetcher
from paperboy.config import AnnounceConfig, Config, DiscordConfig, ScheduleConfig
from paperboy.discord_runner import start_webhooks
from paperboy.jobs import Jobs
from storage.digests import Digests
from storage.store import Store
from tests.bot_fixtures import TOKEN, running_bot
from tests.discord_emulator import DiscordEmulator
from tests.helpers import record

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday


def batch(tag: str, n: int) -> list:
    return [record(f"Digest {tag} item {i}", "Ada Lovelace", published=date(2026, 11, 20)) for i in range(n)]


def titles(message: dict) -> list[str]:
    text = "\n".join(e.get("description", "") for e in message["embeds"])
    return re.findall(r"Digest \w+ item \d+", text)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_daily_digests_hold_exactly_the_papers_since_across_restarts_and_a_crash(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "d.db", announce_max_age=None) as store, running_bot(store) as h:
        h.emu.message_rate = (50, 1.0)
        sub, _ = await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id,
                                              channel_id=h.channel.id, digest=1)
        clock = Clock(START)

        def announcer() -> Announcer:  # a fresh one each time, as after a restart
            return Announcer(store, [ChannelSender(h.bot)], clock=clock)

        await store.ingest(batch("one", 3), source="s")
        assert await announcer().drain() == 0  # no message per paper for a digest subscription
        assert await announcer().post_digests() == 1
        assert await announcer().post_digests() == 0  # the same day: not due again
        await store.ingest(batch("two", 2), source="s")
        clock.now += timedelta(days=1)
        assert await announcer().post_digests() == 1
        first, second = h.emu.messages(h.channel.id)
        assert first["content"] == "🗞️ Daily digest"
        assert sorted(titles(first)) == [f"Digest one item {i}" for i in range(3)]
        assert sorted(titles(second)) == ["Digest two item 0", "Digest two item 1"]

        # A crash after Discord posted the digest and before the books recorded it, restarted long
        # after the nonce window: the digest is found by its footer marker, not posted again.
        await store.ingest(batch("three", 1), source="s")
        clock.now += timedelta(days=1)
        books = Digests(store.db)
        digest = await books.start(sub.id, limit=PER_DIGEST, at=clock.now)
        await books.note(digest.id, IN_FLIGHT + datetime.now(UTC).isoformat())  # the real send time
        papers = [await store.get_paper(k) for k in digest.paper_keys]
        payload = digest_payload(sub, digest, papers, None)  # type: ignore[arg-type]
        posted = await ChannelSender(h.bot).send(sub, payload, "x" * 25)
        h.emu.honour_nonce = False
        assert await announcer().post_digests() == 0
        assert len(h.emu.messages(h.channel.id)) == 3
        assert (await books.get(digest.id)).message_id == posted  # type: ignore[union-attr]

        await store.ingest(batch("four", 1), source="s")
        clock.now += timedelta(days=1)
        assert await announcer().post_digests() == 1
        messages = h.emu.messages(h.channel.id)
        assert titles(messages[-1]) == ["Digest four item 0"]
        every = Counter(t for m in messages for t in titles(m))
        assert len(every) == 7 and set(every.values()) == {1}  # none twice, none missed
        assert await store.outbox.counts() == {"sent": 7}


async def test_a_digest_too_big_for_one_message_goes_out_in_parts_without_losing_any(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "d.db", announce_max_age=None) as store, running_bot(store) as h:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id, digest=7)
        await store.ingest(batch("big", 2 * PER_DIGEST + 5), source="s")
        assert await Announcer(store, [ChannelSender(h.bot)]).post_digests() == 3
        parts = h.emu.messages(h.channel.id)
        assert [len(titles(m)) for m in parts] == [PER_DIGEST, PER_DIGEST, 5]
        assert len({t for m in parts for t in titles(m)}) == 2 * PER_DIGEST + 5
        assert all(sum(len(e.get("description", "")) for e in m["embeds"]) < 6000 for m in parts)


def test_when_a_digest_is_due() -> None:
    monday, day = START, timedelta(days=1)
    assert is_due(1, None, monday) and not is_due(0, None, monday)
    assert is_due(1, monday - day, monday) and not is_due(1, monday - timedelta(hours=20), monday)
    # Weekly: on the chosen weekday once a day has passed, or when a whole week and a day has.
    assert is_due(7, monday - 7 * day, monday, weekday="mon")
    assert not is_due(7, monday - 3 * day, monday + day, weekday="mon")  # Tuesday
    assert is_due(7, monday - 8 * day, monday + day, weekday="mon")  # the Monday run was missed
    assert is_due(7, monday - 2 * day, monday + day, weekday="tue")


async def test_webhooks_get_weekly_digests_on_the_configured_weekday(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "d.db", announce_max_age=None) as store, \
            DiscordEmulator(token=TOKEN) as emu, \
            aiohttp.ClientSession() as session:
        channel = emu.add_channel(emu.add_guild("Lab").id, "digest")
        hook = emu.add_webhook(channel.id)
        config = Config(
            discord=DiscordConfig(api_base=emu.api_base, gateway_url=emu.gateway_url),
            schedule=ScheduleConfig(digest_weekday="tue"),
            announce=(AnnounceConfig(name="weekly", webhook_url=hook.url, digest="weekly"),),
        )
        clock = Clock(START)  # Monday
        jobs = Jobs(config, store, Fetcher(session, user_agent="paperboy-test"))
        await start_webhooks(config, store, session, jobs, lambda _: None, announcer_options={"clock": clock})
        [sub] = await store.outbox.subscriptions(webhooks=True)
        assert sub.digest == 7
        await store.ingest(batch("w", 2), source="s")
        assert await jobs.drain_outbox() == 0  # held for the digest
        assert await jobs.post_digest() == 1  # the first digest goes out at the first run
        await store.ingest(batch("x", 1), source="s")
        clock.now += timedelta(days=1)  # Tuesday, the configured weekday
        assert await jobs.post_digest() == 1
        await store.ingest(batch("y", 1), source="s")
        clock.now += timedelta(days=1)  # Wednesday
        assert await jobs.post_digest() == 0
        clock.now += timedelta(days=6)  # the next Tuesday
        assert await jobs.post_digest() == 1
        messages = emu.messages(channel.id)
        assert [m["content"] for m in messages] == ["🗞️ Weekly digest"] * 3
        assert all(m.get("webhook_id") == str(hook.id) for m in messages)
        assert [titles(m) for m in messages][1:] == [["Digest x item 0"], ["Digest y item 0"]]
