"""The announcer paces itself by the rate-limit headers: each channel's bucket to its end, the global limit kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp

from bot.announcer import Announcer
from bot.pacer import Pacer
from bot.senders import ChannelSender
from storage.store import Store
from tests.bot_fixtures import running_bot
from tests.helpers import record

FAST = (1000, 1.0)


async def _channels(store: Store, h, n: int) -> list:
    channels = [h.channel] + [h.emu.add_channel(h.guild.id, f"papers-{i}") for i in range(n - 1)]
    for channel in channels:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=channel.id)
    return channels


def _posts(h) -> list:
    return [r for r in h.emu.requests if r.method == "POST" and r.path.endswith("/messages")]


async def test_each_channel_uses_its_bucket_to_the_end_without_a_429(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        channels = await _channels(store, h, 2)
        await store.ingest([record(f"Paced paper {i}", "Ada Lovelace") for i in range(7)], source="a")
        h.emu.message_rate = (3, 0.3)
        sender = ChannelSender(h.bot, session)
        assert await Announcer(store, [sender], retry_base=0.0).drain() == 14
        assert [r.status for r in _posts(h)] == [200] * 14  # not one 429
        for channel in channels:
            titles = [m["embeds"][0]["title"] for m in h.emu.messages(channel.id)]
            assert titles == [f"Paced paper {i}" for i in range(7)]
        # It learnt the limit from the headers and waited for windows rather than being told off.
        assert sender.pacer.waited > 0
        assert set(sender.pacer.limits().values()) == {3}


async def test_the_global_limit_is_kept_across_channels(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        await _channels(store, h, 4)
        await store.ingest([record(f"Global paper {i}", "Ada Lovelace") for i in range(3)], source="a")
        h.emu.message_rate = FAST
        h.emu.global_rate = (4, 0.4)  # every channel is free; the token is not
        sender = ChannelSender(h.bot, session, pacer=Pacer(global_rate=(3, 0.4)))
        assert await Announcer(store, [sender], retry_base=0.0).drain() == 12
        assert [r.status for r in _posts(h)] == [200] * 12
        assert sender.pacer.waited > 0


async def test_a_global_429_holds_every_channel_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        channels = await _channels(store, h, 4)
        await store.ingest([record(f"Told-off paper {i}", "Ada Lovelace") for i in range(3)], source="a")
        h.emu.message_rate = FAST
        h.emu.global_rate = (3, 0.4)
        # A pacer that does not know the token's limit learns it from Discord's global 429s.
        sender = ChannelSender(h.bot, session, pacer=Pacer(global_rate=None))
        assert await Announcer(store, [sender], retry_base=0.0).drain() == 12
        limited = [r for r in _posts(h) if r.status == 429]
        assert limited and all(r.response["global"] is True for r in limited)
        assert sender.pacer.global_hits == len(limited)
        posted = Counter(m["embeds"][0]["title"] for c in channels for m in h.emu.messages(c.id))
        assert posted == {f"Told-off paper {i}": 4 for i in range(3)}


async def test_channels_that_went_out_before_the_bucket_hash_was_known_share_its_buckets() -> None:
    pacer = Pacer(global_rate=None)
    route = "POST /channels/{channel_id}/messages"
    # Both channels' first messages go before any answer has named the route's bucket.
    assert pacer.delay(route, "1") == 0.0 and pacer.delay(route, "2") == 0.0
    headers = {"X-RateLimit-Bucket": "abc", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
               "X-RateLimit-Reset-After": "1.0"}
    pacer.note(route, "1", 200, headers)
    pacer.note(route, "2", 200, headers)
    assert pacer.limits() == {"abc:1": 5, "abc:2": 5}
    assert pacer.key(route, "2") == "abc:2"
