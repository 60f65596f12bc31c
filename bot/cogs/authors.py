"""/author: an author's profile, papers, co-authors, topics and feeds."""

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


class AuthorCog(commands.Cog):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    @app_commands.command(name="author", description="An author's papers, co-authors, topics and feeds")
    @app_commands.describe(name="Start typing a name; spelling, initials and order may vary")
    async def author(self, interaction: discord.Interaction, name: str) -> None:
        await self.bot.reply(interaction, lambda: answers.author(self.bot.db, name, base_url=self.bot.base_url))

    @author.autocomplete("name")
    async def author_name(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.bot.autocomplete(lambda: answers.author_choices(self.bot.db, current))
