"""One word for "no digest": ``off`` in config.toml and in /subscribe alike; ``none`` still reads as ``off``."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import aiohttp
import pytest

from bot.announcer import Announcer
from bot.senders import ChannelSender
from feeds.sources.fetch import Fetcher
from paperboy.config import ConfigError, DiscordConfig, load
from paperboy.discord_runner import start_webhooks
from paperboy.jobs import Jobs
from storage.store import Store
from tests.bot_fixtures import TOKEN, running_bot
from tests.discord_emulator import DiscordEmulator
from tests.helpers import record


def papers(tag: str, n: int) -> list:
    return [record(f"Vocabulary {tag} paper {i}", "Ada Lovelace", published=date.today()) for i in range(n)]


async def test_config_digest_off_and_its_alias_none_post_each_paper_daily_holds_them(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "v.db") as store, DiscordEmulator(token=TOKEN) as emu, \
            aiohttp.ClientSession() as session:
        guild = emu.add_guild("Lab")
        channels = {word: emu.add_channel(guild.id, word) for word in ("off", "none", "daily")}
        hooks = {word: emu.add_webhook(c.id) for word, c in channels.items()}
        toml = "".join(f'[[announce]]\nname = "{w}"\nwebhook_url = "{hooks[w].url}"\ndigest = "{w}"\n' for w in hooks)
        (tmp_path / "c.toml").write_text(toml, encoding="utf-8")
        config = load(tmp_path / "c.toml", env={})
        assert [a.digest for a in config.announce] == ["off", "off", "daily"]  # one word, whichever was written
        config = dataclasses.replace(config, discord=DiscordConfig(api_base=emu.api_base, gateway_url=emu.gateway_url))
        jobs = Jobs(config, store, Fetcher(session, user_agent="paperboy-test"))
        await start_webhooks(config, store, session, jobs, lambda _: None)
        await store.ingest(papers("a", 2), source="s")
        assert await jobs.drain_outbox() == 4
        for word in ("off", "none"):
            assert [m["embeds"][0]["title"] for m in emu.messages(channels[word].id)] == [
                "Vocabulary a paper 0", "Vocabulary a paper 1"]
        assert emu.messages(channels["daily"].id) == []
        assert await jobs.post_digest() == 1
        [digest] = emu.messages(channels["daily"].id)
        assert digest["content"] == "🗞️ Daily digest"


def test_a_wrong_digest_word_names_the_canonical_ones(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[[announce]]\nname = "a"\nwebhook_url = "https://h/1/t"\ndigest = "never"\n',
                                     encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[\[announce\]\] #1 digest: expected one of off, daily, weekly"):
        load(tmp_path / "c.toml", env={})


async def test_subscribe_digest_off_posts_each_paper_and_edit_back_to_off_stops_the_digest(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "v.db") as store, running_bot(store) as h:
        h.emu.message_rate = (100, 1.0)
        res = await h.slash("subscribe", options={"target": "all", "digest": "off"}, user=h.admin)
        assert res.embeds[0]["title"] == "Subscribed" and "as they arrive" in res.embeds[0]["description"]
        [sub] = await store.outbox.subscriptions(channel_id=h.channel.id)
        assert sub.digest == 0
        weekly = await h.slash("subscription", "edit", options={"subscription": sub.id, "digest": "weekly"},
                               user=h.admin)
        assert "weekly digest" in weekly.embeds[0]["description"]
        back = await h.slash("subscription", "edit", options={"subscription": sub.id, "digest": "off"}, user=h.admin)
        assert "Delivery: as they arrive" in back.embeds[0]["description"]
        await store.ingest(papers("b", 1), source="s")
        assert await Announcer(store, [ChannelSender(h.bot)], retry_base=0.0).drain() == 1
        assert h.emu.messages(h.channel.id)[-1]["embeds"][0]["title"] == "Vocabulary b paper 0"
        # The old word is no longer a choice Discord offers.
        synced = h.emu.commands() or h.emu.commands(h.guild.id)
        command = next(c for c in synced if c["name"] == "subscribe")
        digest = next(o for o in command["options"] if o["name"] == "digest")
        assert [c["value"] for c in digest["choices"]] == ["off", "daily", "weekly"]
