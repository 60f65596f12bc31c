"""/why: why a paper was (or was not) announced in this channel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import answers, why

if TYPE_CHECKING:
    from bot.client import PaperboyBot

log = logging.getLogger(__name__)


class WhyCog(commands.Cog):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    @app_commands.command(name="why", description="Which of this channel's subscriptions posted a paper, or why not")
    @app_commands.guild_only()
    @app_commands.describe(paper="The paper's key (pick one as you type)",
                           channel="The channel to explain (default: this one)")
    async def why(self, interaction: discord.Interaction, paper: str,
                  channel: discord.TextChannel | None = None) -> None:
        channel_id = channel.id if channel is not None else interaction.channel_id
        await self.bot.reply(interaction, lambda: why.why(
            self.bot.db, paper, channel_id=channel_id, max_age=self.bot.settings.max_age))

    @why.autocomplete("paper")
    async def paper_key(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.bot.autocomplete(lambda: answers.paper_choices(self.bot.db, current))
