"""/topic and /topics: learnt keyphrases, acronyms and categories, and their papers."""

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


class TopicCog(commands.Cog):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    @app_commands.command(name="topic", description="Papers on a topic learnt from the abstracts, newest first")
    @app_commands.describe(name="A topic, acronym or category (pick one), or any words")
    async def topic(self, interaction: discord.Interaction, name: str) -> None:
        await self.bot.reply(interaction, lambda: answers.topic(self.bot.db, name, base_url=self.bot.base_url))

    @topic.autocomplete("name")
    async def topic_name(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.bot.autocomplete(lambda: answers.topic_choices(self.bot.db, current))

    @app_commands.command(name="topics", description="Every topic learnt so far, with paper counts")
    async def topics(self, interaction: discord.Interaction) -> None:
        await self.bot.reply(interaction, lambda: answers.topics(self.bot.db, base_url=self.bot.base_url))
