"""/stats and /feed: the library at a glance and where its feeds are."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import answers

if TYPE_CHECKING:
    from bot.client import PaperboyBot

log = logging.getLogger(__name__)


class StatsCog(commands.Cog):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="Papers, authors, newest paper and the health of each source")
    async def stats(self, interaction: discord.Interaction) -> None:
        await self.bot.reply(interaction, lambda: answers.stats(self.bot.db, base_url=self.bot.base_url))

    @app_commands.command(name="feed", description="Atom, RSS and JSON feed addresses for your feed reader")
    async def feed(self, interaction: discord.Interaction) -> None:
        await self.bot.reply(interaction, lambda: answers.feed(self.bot.db, base_url=self.bot.base_url))
