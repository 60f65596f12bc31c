"""Exactly once without Discord's nonce window: an interrupted send is found by its marker, never resent or failed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.announce_format import announcement
from bot.announcer import IN_FLIGHT, UNVERIFIED, Announcer
from bot.senders import ChannelSender, WebhookSender
from storage.store import Store
from tests.bot_fixtures import running_bot
from tests.helpers import record


@pytest.mark.parametrize("paced", [True, False], ids=["paced by bot.pacer", "through discord.py"])
async def test_a_send_interrupted_after_posting_is_found_by_its_marker_not_posted_again(
    tmp_path: Path, paced: bool
) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        hooked = h.emu.add_channel(h.guild.id, "hooked")
        hook = h.emu.add_webhook(hooked.id)
        channel_sub, _ = await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id,
                                                      channel_id=h.channel.id)
        await store.outbox.subscribe(target="all", value=None, webhook_url=hook.url)
        channel = ChannelSender(h.bot, session) if paced else ChannelSender(h.bot)
        webhook = WebhookSender(session, api_base=h.emu.api_base, reader=lambda: h.bot)
        await store.ingest([record("Posted before the crash", "Ada Lovelace"),
                            record("Never sent before the crash", "Ada Lovelace")], source="s")
        rows = await store.outbox.pending()
        # The dead process marked all four in flight and got two of them posted, then died.
        posted = {}
        for row in rows:
            await store.outbox.mark_in_flight(row.delivery.id, IN_FLIGHT + datetime.now(UTC).isoformat())
            if row.paper_key.startswith("posted"):
                paper = await store.get_paper(row.paper_key)
                sender = channel if row.subscription.id == channel_sub.id else webhook
                posted[row.delivery.id] = await sender.send(row.subscription, announcement(paper, row.subscription),  # type: ignore[arg-type]
                                                            row.delivery.nonce)
        h.emu.honour_nonce = False  # restarted long after Discord's nonce window
        announcer = Announcer(store, [channel, webhook], retry_base=0.0)
        assert await announcer.drain() == 4
        assert announcer.last.recovered == 2
        assert h.emu.message_count(h.channel.id) == 2 and h.emu.message_count(hooked.id) == 2
        for delivery_id, message_id in posted.items():
            row = await store.db.fetchone("SELECT status, message_id FROM deliveries WHERE id = ?", (delivery_id,))
            assert tuple(row) == ("sent", message_id)
        assert h.emu.requests_to("GET", "/channels/{channel_id}/messages")  # the channels were read


async def test_a_dropped_answer_is_never_recorded_failed(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        hooked = h.emu.add_channel(h.guild.id, "hooked")
        hook = h.emu.add_webhook(hooked.id)
        await store.outbox.subscribe(target="all", value=None, webhook_url=hook.url)
        await store.ingest([record("Answered by a dropped connection", "Ada Lovelace"),
                            record("A second one", "Ada Lovelace")], source="s")
        h.emu.drop_after_posting(2)
        with_bot = Announcer(store, [WebhookSender(session, api_base=h.emu.api_base, reader=lambda: h.bot)],
                             retry_base=0.0)
        await with_bot.drain()
        assert h.emu.message_count(hooked.id) == 2  # both posted; neither answer arrived
        assert await store.outbox.counts() == {"pending": 2}  # in flight, not failed
        await with_bot.drain()  # found by the marker through the bot
        assert h.emu.message_count(hooked.id) == 2 and await store.outbox.counts() == {"sent": 2}
        ids = {r[0] for r in await store.db.fetchall("SELECT message_id FROM deliveries")}
        assert ids == {int(m["id"]) for m in h.emu.messages(hooked.id)}

        # Without a bot nothing can read the webhook's channel: sent, unverified, never resent or failed.
        await store.ingest([record("A third one, with no bot to check", "Ada Lovelace")], source="s")
        h.emu.drop_after_posting(1)
        blind = Announcer(store, [WebhookSender(session, api_base=h.emu.api_base)], retry_base=0.0)
        await blind.drain()
        await blind.drain()
        assert h.emu.message_count(hooked.id) == 3 and await store.outbox.counts() == {"sent": 3}
        row = await store.db.fetchone("SELECT last_error FROM deliveries ORDER BY id DESC LIMIT 1")
        assert row[0].startswith(UNVERIFIED)


async def test_a_channel_post_whose_answer_is_dropped_stays_in_flight_and_is_found(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "x.db", announce_max_age=None) as store, running_bot(store) as h, \
            aiohttp.ClientSession() as session:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        await store.ingest([record("Posted, answer lost", "Ada Lovelace"), record("Posted too", "Ada Lovelace")],
                           source="s")
        h.emu.drop_after_posting(1)
        h.emu.honour_nonce = False  # only the marker can stop a second post
        announcer = Announcer(store, [ChannelSender(h.bot, session)], retry_base=0.0)
        assert await announcer.drain() == 1
        assert h.emu.message_count(h.channel.id) == 2  # both posted; the first answer never arrived
        [(error,)] = await store.db.fetchall("SELECT last_error FROM deliveries WHERE status = 'pending'")
        assert error.startswith(IN_FLIGHT) and "OutcomeUnknown" in error
        assert await announcer.drain() == 1 and announcer.last.recovered == 1
        assert h.emu.message_count(h.channel.id) == 2 and await store.outbox.counts() == {"sent": 2}
        ids = {r[0] for r in await store.db.fetchall("SELECT message_id FROM deliveries")}
        assert ids == {int(m["id"]) for m in h.emu.messages(h.channel.id)}
