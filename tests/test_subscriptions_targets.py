"""Every subscription target fires end to end, and nothing floods: subscribe through the emulator,
ingest from another `paperboy ingest` process on the same SQLite file, and read the channels."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import aiohttp
import pytest

from bot.announcer import Announcer
from bot.senders import ChannelSender, WebhookSender
from paperboy.config import AnnounceConfig, Config, ConfigError, DiscordConfig, load
from paperboy.discord_runner import sync_webhooks
from storage.store import Store
from tests.bot_fixtures import running_bot, seeded_store
from tests.helpers import needs_seed
from tests.subscription_fixtures import ingest_elsewhere, paper, titles_posted

pytestmark = needs_seed

TARGETS = {"all": None, "author": "Sangheum Hwang", "topic": "SSL", "category": "cv"}


@pytest.fixture
async def store(tmp_path: Path):
    store = await seeded_store(tmp_path / "subs.db")
    yield store
    await store.close()


def batch() -> list[dict]:
    return [
        paper("Hwang on SSL", "Sangheum Hwang", "Mina Park", category="CV",
              abstract="Self-supervised learning (SSL) for detectors, with a new pretext task."),
        paper("A Learning Theory Note", "Zed Newcomer", category="LG", abstract="Bounds for kernels."),
        paper("An Old Vision Paper", "Zed Newcomer", category="CV", published=date(2019, 6, 1),
              abstract="Self-supervised learning (SSL) before it was popular."),
        paper("An Undated Vision Preprint", "Zed Newcomer", category="CV", days_old=None),
    ]


EXPECTED = {
    "all": {"Hwang on SSL", "A Learning Theory Note", "An Undated Vision Preprint"},
    "author": {"Hwang on SSL"},
    "topic": {"Hwang on SSL"},
    "category": {"Hwang on SSL", "An Undated Vision Preprint"},
}


async def test_every_target_posts_exactly_its_papers_through_the_bot_and_webhooks(
    store: Store, tmp_path: Path
) -> None:
    async with running_bot(store) as h, aiohttp.ClientSession() as session:
        channels, hooks, announce = {}, {}, []
        for target, value in TARGETS.items():
            channels[target] = h.emu.add_channel(h.guild.id, f"bot-{target}")
            options = {"target": target, "channel": channels[target].id}
            if value:
                options["value"] = value
            res = await h.slash("subscribe", options=options, user=h.admin)
            assert res.embeds and res.embeds[0]["title"] == "Subscribed", res.content
            hook_channel = h.emu.add_channel(h.guild.id, f"hook-{target}")
            hooks[target] = hook_channel
            hook = h.emu.add_webhook(hook_channel.id)
            announce.append(AnnounceConfig(name=target, webhook_url=hook.url, target=target, value=value or ""))
        config = Config(discord=DiscordConfig(api_base=h.emu.api_base, gateway_url=h.emu.gateway_url),
                        announce=tuple(announce))
        assert await sync_webhooks(config, store) == 4

        totals = await ingest_elsewhere(Path(store.path), batch(), tmp_path / "in")
        assert totals["new"] == 4
        assert totals["queued_deliveries"] == 2 * sum(len(v) for v in EXPECTED.values())

        bot_announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)
        hook_announcer = Announcer(store, [WebhookSender(session, api_base=h.emu.api_base)], retry_base=0.0)
        await bot_announcer.drain()
        await hook_announcer.drain()
        for target, wanted in EXPECTED.items():
            for where in (channels[target], hooks[target]):
                posted = titles_posted(h.emu.messages(where.id))
                assert set(posted) == wanted, (target, where.name, posted)
                assert set(posted.values()) == {1}
        assert await store.outbox.counts() == {"sent": 2 * sum(len(v) for v in EXPECTED.values())}
        # The category typed in lower case was matched case-insensitively and shown as stored.
        [category_sub] = [s for s in await store.outbox.subscriptions() if s.channel_id == channels["category"].id]
        assert category_sub.value == "CV"


async def test_a_new_sources_backlog_is_stored_but_not_announced(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        res = await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        said = res.embeds[0]["description"]
        assert "published within the last 30 days are announced" in said
        assert "a new source's backlog, are stored and searchable but not posted" in said
        backlog = [paper(f"Archive Paper {i}", "Zed Newcomer", published=date(2016 + i % 8, 1 + i % 12, 3))
                   for i in range(40)]
        backlog.append(paper("Fresh From The New Source", "Zed Newcomer", days_old=3))
        totals = await ingest_elsewhere(Path(store.path), backlog, tmp_path / "in", source="new-arxiv")
        assert (totals["new"], totals["queued_deliveries"]) == (41, 1)
        await Announcer(store, [ChannelSender(h.bot)], retry_base=0.0).drain()
        assert titles_posted(h.emu.messages(h.channel.id)) == {"Fresh From The New Source": 1}
        # The backlog is searchable.
        found = await h.slash("paper", "search", options={"query": "Archive Paper 7"})
        assert "Archive Paper 7" in found.embeds[0]["description"]
        # backfill: still posts recent matches on request, whatever their age.
        other = h.emu.add_channel(h.guild.id, "backfilled")
        res = await h.slash("subscribe", options={"target": "all", "channel": other.id, "backfill": 3}, user=h.admin)
        assert "3 recent papers will be posted now as a backfill" in res.embeds[0]["description"]
        await Announcer(store, [ChannelSender(h.bot)], retry_base=0.0).drain()
        assert len(titles_posted(h.emu.messages(other.id))) == 3


async def test_announce_max_age_from_the_config_decides_what_is_new(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        strict = tmp_path / "strict.toml"
        strict.write_text('[announce]\nmax_age = "5d"\n', encoding="utf-8")
        loose = tmp_path / "loose.toml"
        loose.write_text("[announce]\nmax_age = 0\n", encoding="utf-8")
        totals = await ingest_elsewhere(Path(store.path), [paper("Ten Days Old", days_old=10),
                                                           paper("Two Days Old", days_old=2)],
                                        tmp_path / "in", config=strict)
        assert totals["queued_deliveries"] == 1
        totals = await ingest_elsewhere(Path(store.path), [paper("From 2018", published=date(2018, 1, 1))],
                                        tmp_path / "in", source="loose", config=loose)
        assert totals["queued_deliveries"] == 1  # max_age = 0: no age limit
        await Announcer(store, [ChannelSender(h.bot)], retry_base=0.0).drain()
        assert set(titles_posted(h.emu.messages(h.channel.id))) == {"Two Days Old", "From 2018"}


async def test_webhook_entries_take_filters_and_a_role_from_the_config(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h, aiohttp.ClientSession() as session:
        channel = h.emu.add_channel(h.guild.id, "hook-filtered")
        hook = h.emu.add_webhook(channel.id)
        role = h.emu.add_role(h.guild.id, "vision")
        config_path = tmp_path / "hooks.toml"
        config_path.write_text(
            f'[announce]\nmax_age = "30d"\n[[announce.webhooks]]\nname = "vision"\nwebhook_url = "{hook.url}"\n'
            f'target = "category"\nvalue = "cv"\ninclude = \'"open vocabulary" /segment/i\'\n'
            f'exclude = "medical"\nmention_role = {role.id}\n', encoding="utf-8")
        config = load(config_path, env={})
        config = replace(config, discord=DiscordConfig(api_base=h.emu.api_base, gateway_url=h.emu.gateway_url))
        assert await sync_webhooks(config, store) == 1
        [sub] = await store.outbox.subscriptions(webhooks=True)
        assert (sub.include, sub.exclude, sub.mention_role_id) == ('"open vocabulary" /segment/i', "medical", role.id)
        await ingest_elsewhere(Path(store.path), [
            paper("Open Vocabulary Detection"), paper("Segmenting Cells"), paper("Medical Segmentation"),
            paper("Open Vocabulary Parsing", category="CL"),
        ], tmp_path / "in")
        await Announcer(store, [WebhookSender(session, api_base=h.emu.api_base)], retry_base=0.0).drain()
        messages = h.emu.messages(channel.id)
        assert set(titles_posted(messages)) == {"Open Vocabulary Detection", "Segmenting Cells"}
        for message in messages:
            assert message["content"].startswith(f"<@&{role.id}> ")
            assert h.emu.allowed_mentions(int(message["id"])) == {"parse": [], "roles": [str(role.id)]}
            assert message["mention_roles"] == [str(role.id)]  # webhooks may ping any role
        bad = tmp_path / "bad.toml"
        bad.write_text(f'[[announce]]\nname = "x"\nwebhook_url = "{hook.url}"\ninclude = "/(oops/"\n',
                       encoding="utf-8")
        with pytest.raises(ConfigError, match=r"\[\[announce\]\] 'x': include: /\(oops/ is not a regular"):
            load(bad, env={})
