"""The announcer drains channels side by side: one channel waiting for its rate-limit window never holds up another."""

from __future__ import annotations

from pathlib import Path

from bot.announcer import Announcer
from bot.senders import ChannelSender
from storage.store import Store
from tests.bot_fixtures import running_bot
from tests.helpers import record


async def test_a_channel_waiting_for_its_window_does_not_hold_up_the_next(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h:
        other = h.emu.add_channel(h.guild.id, "other")
        h.emu.message_rate = (1, 1.0)  # one post per second per channel
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        await store.ingest([record(f"First channel paper {i}", "Ada Lovelace") for i in range(3)], source="a")
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=other.id)
        await store.ingest([record(f"Second channel paper {i}", "Ada Lovelace") for i in range(3)], source="b")
        # The outbox holds the first channel's three rows before any of the second channel's.
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)
        sent = 0
        for _ in range(20):
            sent += await announcer.drain()
            if sent == 9:
                break
        assert sent == 9 and not [r for r in h.emu.requests if r.status == 429]
        posts = [r.path for r in h.emu.requests if r.method == "POST" and r.path.endswith("/messages")
                 and r.status == 200]
        first, second = f"/channels/{h.channel.id}/messages", f"/channels/{other.id}/messages"
        # The second channel's first post went out while the first channel waited for its window.
        assert posts.index(second) < posts.index(first, posts.index(first) + 1)
        # Each channel still gets its papers in order.
        titles = {c: [m["embeds"][0]["title"] for m in h.emu.messages(c)] for c in (h.channel.id, other.id)}
        second_papers = [f"Second channel paper {i}" for i in range(3)]
        assert titles[h.channel.id] == [f"First channel paper {i}" for i in range(3)] + second_papers
        assert titles[other.id] == second_papers
