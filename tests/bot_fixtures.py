"""Shared set-up for the bot tests: a seeded store, the Discord emulator and a logged-in bot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.client import PaperboyBot
from bot.endpoints import point_discord
from paperboy.config import Config, DiscordConfig
from paperboy.inputs import read_records
from storage.models import PaperRecord
from storage.store import Store
from tests.discord_emulator import DiscordEmulator, Guild, Member
from tests.discord_emulator._state import Channel
from tests.helpers import SEED, SEED_AS_OF

TOKEN = "bot-test-token"
BASE_URL = "http://feeds.test/"
MANAGE_GUILD = 1 << 5


async def seeded_store(path: Path) -> Store:
    store = await Store.open(path)
    _, result = read_records(SEED, as_of=SEED_AS_OF, owner="Sangheum Hwang")
    await store.ingest(result.records, source="seed", owner="Sangheum Hwang")
    return store


def hostile_records() -> list[PaperRecord]:
    """Papers whose text tries to ping, format, and overflow every limit."""
    return [
        PaperRecord(
            title="@everyone **Bold** claim <@123> and <@&456> ||spoiler|| `code` [link](http://evil.test) " * 5,
            authors=tuple(f"Author{i} Surname{i}" for i in range(300)),
            abstract=("An abstract with @here and **markdown** _everywhere_ > quoted\n# heading\n" * 60)[:3000],
            category="CV",
            published=date(2025, 5, 5),
            has_code=True,
            code_url="https://github.com/example/hostile_repo",
        ),
        PaperRecord(
            title="X" * 6000,
            authors=("Y" * 6000,),
            abstract="Z" * 6000,
            category="LG",
            published=date(2025, 5, 6),
        ),
    ]


@dataclass
class Harness:
    emu: DiscordEmulator
    bot: PaperboyBot
    store: Store
    guild: Guild
    channel: Channel
    admin: Member
    member: Member

    async def slash(self, command: str, *path: str, user: Member | None = None, **kwargs: Any):
        kwargs.setdefault("channel_id", self.channel.id)
        return await self.emu.slash(command, *path, user_id=(user or self.member).id, **kwargs)


@contextlib.asynccontextmanager
async def running_bot(
    store: Store,
    *,
    guild_ids: tuple[int, ...] | None = None,
    **options: Any,
) -> AsyncIterator[Harness]:
    """A bot logged into a fresh emulator; closed (and discord.py pointed back) on exit."""
    async with DiscordEmulator(token=TOKEN) as emu:
        guild = emu.add_guild("Lab")
        channel = emu.add_channel(guild.id, "papers")
        admin = emu.add_member(guild.id, "admin", permissions=MANAGE_GUILD)
        member = emu.add_member(guild.id, "reader", permissions=0)
        config = Config(
            discord=DiscordConfig(
                api_base=emu.api_base,
                gateway_url=emu.gateway_url,
                guild_ids=(guild.id,) if guild_ids is None and options.pop("guild_sync", False) else guild_ids or (),
            ),
            discord_token=TOKEN,
        )
        restore = point_discord(emu.api_base, emu.gateway_url)
        options.setdefault("guild_ready_timeout", 0.05)
        bot = PaperboyBot(store=store, settings=config.bot_settings(), base_url=BASE_URL, **options)
        task = asyncio.create_task(bot.start(TOKEN))
        try:
            await emu.wait_ready()
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await emu.wait_commands(guild.id if config.discord.guild_ids else None)
            yield Harness(emu, bot, store, guild, channel, admin, member)
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            restore()
